"""The one OpenAPI document of the public API, merged from the gateway's and the services' own."""
