// Starts Swagger UI on /docs over this registry's OpenAPI document (no inline script: the
// page's CSP allows only this origin's files). "Authorize" takes a bearer token, so "Try it
// out" can publish.
(function () {
  "use strict";
  window.addEventListener("DOMContentLoaded", function () {
    window.SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#ui",
      deepLinking: true,
      filter: true,
      validatorUrl: null,
      tryItOutEnabled: false,
      persistAuthorization: false,
    });
  });
})();
