/* config_keys.h — THE configuration table. One line per key:
 *
 *   X(section, key, TYPE, default, min, max, runtime, doc)
 *
 * TYPE is STR, INT, BOOL, ENUM, DUR (duration → int64 ms) or SIZE (bytes → int64).
 * default/min/max are strings parsed by the same code that parses user input, so the table is
 * validated at start. For ENUM, min holds the choices separated by '|'. runtime = 1 when the key
 * may change while the daemon runs. The example file (`parkwatch config --defaults`), the
 * `--set` option, the INI loader and docs/configuration.md all come from this table.
 *
 * Add keys at the end of their section; never reuse a removed name for something else. */
#define PW_CONFIG_KEYS(X)                                                                          \
    X(log, level, ENUM, "info", "error|warn|info|debug", "", 1,                                    \
      "Lowest level of log lines written to stderr (logfmt).")                                     \
    X(http, listen, STR, "127.0.0.1:8080", "", "", 0,                                              \
      "HTTP API, server-sent events and web UI: listen address host:port.")                        \
    X(http, max_connections, INT, "1024", "1", "100000", 0,                                        \
      "Most HTTP connections open at once; more are refused.")                                     \
    X(http, max_body, SIZE, "64MiB", "1KiB", "1GiB", 0,                                            \
      "Largest request body accepted (after gzip decoding for /write).")                           \
    X(http, web_root, STR, "web", "", "", 0,                                                       \
      "Directory of the web UI's static files (relative to the working directory).")               \
    X(http, session_ttl, DUR, "12h", "1m", "30d", 1,                                               \
      "A login session expires this long after it was created.")                                   \
    X(http, write_cache, SIZE, "16MiB", "0", "1GiB", 0,                                            \
      "Memory for POST /write's cache of series by their raw line bytes (an eighth for its "       \
      "table, the rest for keys); samples it cannot hold are resolved the slower way. 0 = off.")  \
    X(auth, ingest_loopback_open, BOOL, "true", "", "", 1,                                         \
      "Whether POST /write from a loopback address needs no token.")                               \
    X(auth, login_max_failures, INT, "5", "1", "1000", 1,                                          \
      "Failed logins allowed per user and per client address within auth.login_window.")          \
    X(auth, login_window, DUR, "15m", "1s", "1d", 1,                                               \
      "Window over which failed logins are counted; the lockout lasts as long.")                   \
    X(storage, fsync, ENUM, "batch", "always|batch|off", "", 0,                                    \
      "WAL durability: always = fsync each append, batch = group commit (one fsync covers a "      \
      "batch), off = never fsync (tests only: acknowledged data can be lost).")                    \
    X(storage, retention, DUR, "5y", "1d", "100y", 1,                                              \
      "Samples older than this are dropped, whole partitions at a time. The default keeps the "    \
      "longest legal minimum (environmental ledgers, 5 years).")                                   \
    X(storage, max_series, INT, "10000000", "1000", "1000000000", 0,                               \
      "Most distinct series; new series beyond it are refused and counted.")                       \
    X(query, max_series, INT, "100000", "1", "100000000", 0,                                       \
      "Most series one read request (/api/v1/export, series, labels, read, last) may select; "     \
      "more is answered 422.")                                                                     \
    X(query, max_samples, INT, "20000000", "1000", "10000000000", 0,                               \
      "Most samples one /api/v1/export or /api/v1/read request may return; more is answered 422.") \
    X(query, timeout, DUR, "60s", "1s", "1h", 0,                                                   \
      "A read request still working after this long is ended (503); so is one whose client left, " \
      "and every one at shutdown.")                                                                \
    X(hj212, listen, STR, "127.0.0.1:9212", "", "", 0,                                             \
      "HJ 212 TCP listener (environmental stations): host:port; empty disables it.")               \
    X(hj212, unknown_devices, ENUM, "quarantine", "accept|quarantine|reject", "", 1,               \
      "Frames from an MN not in the park model: accept (store, alarm), quarantine (store, list "   \
      "for onboarding, no alarms) or reject (drop, close).")                                       \
    X(hj212, accept_modbus_crc, BOOL, "false", "", "", 1,                                          \
      "Also accept the CRC-16/MODBUS low-byte-first checksum some loggers send (counted).")        \
    X(hj212, idle_timeout, DUR, "10m", "5s", "1d", 1,                                              \
      "Close an HJ 212 connection that sent nothing for this long.")                               \
    X(hj212, max_connections, INT, "10000", "1", "100000", 0,                                      \
      "Most HJ 212 connections open at once.")                                                     \
    X(hj212, utc_offset_minutes, INT, "480", "-720", "840", 1,                                     \
      "Time zone of DataTime for devices that do not set their own (minutes east of UTC; "         \
      "480 = UTC+8, China).")                                                                      \
    X(jt808, listen, STR, "127.0.0.1:6808", "", "", 0,                                             \
      "JT/T 808 TCP listener (vehicle terminals): host:port; empty disables it.")                  \
    X(jt808, unknown_terminals, ENUM, "quarantine", "accept|quarantine|reject", "", 1,             \
      "Terminals whose phone is not in the park model: accept, quarantine (store, list for "       \
      "onboarding, no alarms) or reject.")                                                         \
    X(jt808, idle_timeout, DUR, "30m", "5s", "1d", 1,                                              \
      "Close a JT/T 808 connection that sent nothing for this long.")                              \
    X(jt808, max_connections, INT, "20000", "1", "200000", 0,                                      \
      "Most JT/T 808 connections open at once.")                                                   \
    X(jt808, reassembly_budget, SIZE, "64MiB", "0", "4GiB", 0,                                     \
      "Memory all JT/T 808 connections together may hold for subpackaged messages in progress "    \
      "(authenticated terminals only); a message that would exceed it is dropped and counted.")    \
    X(jt808, duplicate_session, ENUM, "replace", "replace|refuse", "", 1,                          \
      "A terminal authenticating while its phone has a session on another connection: replace "    \
      "(the old connection is closed) or refuse (the new one is answered result 1 and closed).")   \
    X(jt808, reset_window, DUR, "24h", "1m", "30d", 1,                                             \
      "How long an operator's terminal reset lets that registered terminal register again.")       \
    X(mqtt, broker, STR, "127.0.0.1:1883", "", "", 0,                                              \
      "Mosquitto broker host:port; empty disables MQTT.")                                          \
    X(mqtt, client_id, STR, "parkwatch", "", "", 0,                                                \
      "MQTT client id (the persistent session is keyed on it).")                                   \
    X(mqtt, username, STR, "", "", "", 0, "MQTT user name; empty for none.")                       \
    X(mqtt, password, STR, "", "", "", 0, "MQTT password; empty for none.")                        \
    X(mqtt, tls, BOOL, "false", "", "", 0, "Connect to the broker over TLS.")                      \
    X(mqtt, cafile, STR, "", "", "", 0, "CA certificate file for MQTT over TLS.")                  \
    X(modbus, poll_interval, DUR, "5s", "100ms", "1h", 1,                                          \
      "Default Modbus TCP poll interval (a device may set its own).")                              \
    X(modbus, timeout, DUR, "1s", "10ms", "1m", 1, "Modbus TCP response timeout.")                 \
    X(modbus, retries, INT, "2", "0", "10", 1, "Modbus read retries before a poll counts as failed.") \
    X(modbus, offline_after, INT, "3", "1", "1000", 1,                                             \
      "Consecutive failed polls after which a Modbus device is offline.")                       \
    X(vehicles, max_stop_outside_lot, DUR, "10m", "1s", "1d", 1,                                   \
      "A hazmat vehicle stopped (below 3 km/h) in the park outside the hazmat parking lot for "    \
      "longer than this raises an alarm.")                                                         \
    X(vehicles, speeding_for, DUR, "10s", "0ms", "1h", 1,                                           \
      "A vehicle above the speed limit of where it is for longer than this raises an alarm.")      \
    X(vehicles, speed_limit_kmh, INT, "30", "1", "300", 1,                                         \
      "Speed limit inside the park where no geofence or route corridor sets one (km/h).")          \
    X(vehicles, max_stay, DUR, "12h", "1s", "30d", 1,                                              \
      "A vehicle inside the park boundary for longer than this raises an alarm.")                  \
    X(vehicles, silent_after, DUR, "5m", "1s", "1d", 1,                                            \
      "A vehicle in the park whose terminal sent no location for this long raises an alarm.")      \
    X(vehicles, terminal_alarm_bits, INT, "2080375183", "0", "4294967295", 1,                      \
      "Mask of JT/T 808 0x0200 alarm bits that become vehicle alarms (default: emergency, "        \
      "overspeed, fatigue, danger, power low, power off, stolen, illegal ignition, illegal "       \
      "displacement, collision, rollover).")                                        \
    X(rules, offline_after, DUR, "5m", "0", "30d", 1,                                              \
      "A device with no sample on any of its series for this long raises an offline alarm "        \
      "(0 = no offline rule).")                                                                    \
    X(rules, on_delay, DUR, "0", "0", "1h", 1,                                                     \
      "Default on-delay of gas, threshold and exceedance rules: a condition must last this long.") \
    X(rules, off_delay, DUR, "0", "0", "1h", 1,                                                    \
      "Default off-delay: a condition must be gone this long before its alarm clears.")            \
    X(rules, flatline_window, DUR, "0", "0", "30d", 1,                                             \
      "Flatline (stuck sensor) on non-gas points: value unchanged this long (0 = off).")           \
    X(rules, early_window, DUR, "5m", "0", "1d", 1,                                                \
      "Early warning: the trend of gas points is fitted over this window (0 = off).")              \
    X(rules, early_horizon, DUR, "10m", "0", "1d", 1,                                              \
      "Early warning: raised when the trend reaches alarm1 within this time (0 = off).")           \
    X(rules, linked_count, INT, "2", "0", "1000", 1,                                               \
      "Linked area alarm: detectors of one area at the level needed (0 = off).")                   \
    X(rules, linked_level, INT, "1", "1", "2", 1,                                                  \
      "Linked area alarm: gas level (1 or 2) a detector must reach to count.")                     \
    X(rules, linked_window, DUR, "5m", "1s", "1d", 1,                                              \
      "Linked area alarm: a detector counts for this long after it left the level.")               \
    X(alarm, flap_window, DUR, "10m", "1s", "1d", 1,                                               \
      "Flap detection window; a flapping alarm is held until stable this long.")                   \
    X(alarm, flap_count, INT, "5", "0", "1000", 1,                                                 \
      "More re-raises than this within alarm.flap_window mark an alarm flapping (0 = off).")       \
    X(alarm, webhook_urls, STR, "", "", "", 0,                                                     \
      "Comma-separated URLs (at most 8) that receive every notified alarm event as JSON.")         \
    X(alarm, webhook_max_tries, INT, "6", "1", "100", 0,                                           \
      "Attempts per event and URL before a webhook delivery is given up.")                         \
    X(alarm, webhook_backoff, DUR, "1s", "10ms", "1h", 0,                                          \
      "Delay before the first webhook retry; doubled at each retry (capped at 5 minutes).")        \
    X(alarm, webhook_timeout, DUR, "5s", "100ms", "1m", 0, "Timeout of one webhook request.")      \
    X(alarm, webhook_queue, INT, "1000", "1", "1000000", 0,                                        \
      "Alarm events waiting for webhook delivery; beyond it new events are dropped (counted).") \
    X(uplink, enabled, BOOL, "false", "", "", 0,                                                   \
      "Forward every committed sample, alarm transition and device event to the park's "           \
      "NATS JetStream leaf for the province (docs/province.md).")                                 \
    X(uplink, park, STR, "", "", "", 0,                                                            \
      "This park's id in the province ([a-z0-9-], at most 32): subjects pw.<park>.*, stream "      \
      "PW_<PARK>, JetStream domain park-<park>.")                                                  \
    X(uplink, nats_url, STR, "nats://127.0.0.1:4222", "", "", 0,                                   \
      "The park's own nats-server (the leaf of the province hub).")                                \
    X(uplink, user, STR, "", "", "", 0, "User name at the park's nats-server (\"\" = none).")       \
    X(uplink, password, STR, "", "", "", 0, "Password at the park's nats-server.")                 \
    X(uplink, max_in_flight, INT, "64", "1", "4096", 0,                                            \
      "Messages published and not yet acknowledged by the park stream, at most.")                  \
    X(uplink, ack_wait, DUR, "5s", "100ms", "5m", 0,                                               \
      "A publish not acknowledged within this is sent again (the stream deduplicates it).")        \
    X(uplink, stream_max_age, DUR, "14d", "1h", "10y", 0,                                          \
      "MaxAge of the park stream PW_<PARK>: what the park keeps for the province during an outage.") \
    X(uplink, stream_max_bytes, SIZE, "10GiB", "1MiB", "100TiB", 0,                                \
      "MaxBytes of the park stream (Discard=Old): size it for the longest WAN outage.")            \
    X(uplink, replay_window, DUR, "2m", "0", "1h", 0,                                              \
      "Outbox rows are kept this long after their acknowledgement and sent again after an "        \
      "unclean stop (the server fsyncs its store every 60 s).")                                    \
    X(province, id, STR, "", "", "", 0,                                                            \
      "This province's id (`serve --role province`): aggregate stream PW_PROV_<ID>, JetStream "    \
      "domain prov-<id>.")                                                                         \
    X(province, nats_url, STR, "nats://127.0.0.1:4222", "", "", 0,                                 \
      "The province hub's nats-server.")                                                           \
    X(province, user, STR, "", "", "", 0, "User name at the hub (\"\" = none).")                  \
    X(province, password, STR, "", "", "", 0, "Password at the hub.")                              \
    X(province, parks, STR, "", "", "", 0,                                                         \
      "Comma-separated park ids the aggregate stream sources (from $JS.park-<p>.API).")            \
    X(province, fetch, INT, "256", "1", "4096", 0,                                                 \
      "Messages fetched from the aggregate stream at once (one group commit, then acknowledged).")
