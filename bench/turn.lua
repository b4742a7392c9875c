-- wrk script: POST a chat turn into one of the pre-created sessions, round robin per thread
-- (or, with OPSCHAT_BENCH_NEW=1, a turn that starts a new session).
-- Sessions come from bench/out/sessions.txt (one UUID per line), written by bench/run.sh.
local questions = {
  "What's most urgent today?", "Who do I need to follow up with?", "What can I delegate?",
  "Summarize my day", "Help me plan my next 2 hours", "When is the manager schedule due?",
}
local sessions = {}
for line in io.lines(os.getenv("OPSCHAT_BENCH_SESSIONS") or "bench/out/sessions.txt") do
  sessions[#sessions + 1] = line
end
-- Every turn carries the API token bench/run.sh created (none against a build without accounts).
local headers = {["Content-Type"] = "application/json"}
local token = os.getenv("OPSCHAT_BENCH_TOKEN") or ""
if token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end
local n = 0
local thread_id = 0
local counter = 0

-- With a second instance (bench/run.sh INSTANCES=2), every other thread sends its turns there,
-- as a load balancer spreading connections would.
local second = os.getenv("OPSCHAT_BENCH_SECOND") or ""
-- OPSCHAT_BENCH_NEW=1: every turn starts a new session instead of continuing one.
local new_sessions = os.getenv("OPSCHAT_BENCH_NEW") == "1"

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  if second ~= "" and counter % 2 == 0 then
    local host, port = second:match("([^:]+):(%d+)")
    thread.addr = wrk.lookup(host, port)[1]
  end
end

request = function()
  n = n + 1
  local s = sessions[((thread_id * 7919 + n) % #sessions) + 1]
  local q = questions[(n % #questions) + 1]
  local body = '{"message": "' .. q .. '", "session_id": "' .. s .. '"}'
  if new_sessions then
    body = '{"message": "' .. q .. '"}'
  end
  return wrk.format("POST", "/api/operations-chat", headers, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
