"use strict";

exports.securityHeaders = () => ({
  "strict-transport-security": [
    { key: "Strict-Transport-Security", value: "max-age=63072000; includeSubDomains" },
  ],
  "x-content-type-options": [{ key: "X-Content-Type-Options", value: "nosniff" }],
});
