"use strict";
// A Lambda@Edge viewer-response handler: adds security headers to every response.
const { securityHeaders } = require("./headers");

exports.handler = async (event) => {
  const response = event.Records[0].cf.response;
  Object.assign(response.headers, securityHeaders());
  return response;
};
