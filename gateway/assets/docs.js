// Renders /openapi.json on /docs with the vendored Redoc bundle. Telemetry off: the page
// talks to this server only.
import { init } from "/docs/redoc.standalone.js";

init(
  "/openapi.json",
  {
    disableTelemetry: true,
    hideDownloadButtons: false,
    expandResponses: "200,201,202",
    jsonSamplesExpandLevel: 2,
  },
  document.getElementById("reference"),
);
