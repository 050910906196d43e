// The API reference page: Scalar (vendored, see assets/vendor/scalar) renders the server's
// own OpenAPI document. Nothing is fetched from anywhere else: no web fonts, no proxy.
/* global Scalar */
Scalar.createApiReference('#api-reference', {
  url: '/api/v1/openapi.json',
  withDefaultFonts: false,
  hideClientButton: true,
  telemetry: false,
});
