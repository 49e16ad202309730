"""How the plugin's cacheable processes meet a remote cache."""

# Pants 2.17 races a remote cache lookup against running the process locally from the start. The
# plugin's processes wait for the lookup first (it is bounded by
# `[GLOBAL].remote_cache_rpc_timeout_millis`, and a miss starts the process at once), so a
# machine does not spend its cores building what it is about to download.
WAIT_FOR_REMOTE_CACHE_MILLIS = 10_000
