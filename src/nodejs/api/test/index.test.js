"use strict";
// A test file: never packed.
const isNumber = require("is-number");
const assert = require("assert");
assert(isNumber(1));
