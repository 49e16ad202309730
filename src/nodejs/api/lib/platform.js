"use strict";
// The @esbuild/<os>-<cpu> package present in node_modules, or null.
const fs = require("fs");
const path = require("path");

exports.platformPackage = () => {
  const scope = path.join(__dirname, "..", "node_modules", "@esbuild");
  const found = fs.existsSync(scope) ? fs.readdirSync(scope).sort() : [];
  return found.length ? `@esbuild/${found[0]}` : null;
};
