"""Who a client is: the server's own access tokens and the ones platforms issue
(docs/security.md, "Identity"). Imports conf, ids and exceptions; no models, no services."""
