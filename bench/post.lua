-- wrk script: POST the body in $BODY_FILE with $CONTENT_TYPE (and $CONTENT_ENCODING if set).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/x-ndjson"
local ce = os.getenv("CONTENT_ENCODING")
if ce and ce ~= "" then wrk.headers["Content-Encoding"] = ce end
