"use strict";
// Formats a duration in milliseconds ("ms" is a production dependency), and names the
// platform-specific esbuild package npm installed for the Lambda architecture.
const ms = require("ms");
const esbuild = require("esbuild/package.json");
const { platformPackage } = require("./lib/platform");

exports.handler = async (event) => ({
  statusCode: 200,
  body: JSON.stringify({
    duration: ms(event.milliseconds, { long: true }),
    esbuild: esbuild.version,
    binary: platformPackage(),
  }),
});
