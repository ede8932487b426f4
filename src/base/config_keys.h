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
      "Largest body of the ingest routes (POST /write, /api/v2/write; after gzip decoding).")     \
    X(http, web_root, STR, "web", "", "", 0,                                                       \
      "Directory of the web UI's static files (relative to the working directory).")               \
    X(http, session_ttl, DUR, "12h", "1m", "30d", 1,                                               \
      "A login session expires this long after it was created.")                                   \
    X(http, write_cache, SIZE, "16MiB", "0", "1GiB", 0,                                            \
      "Memory for POST /write's cache of series by their raw line bytes (an eighth for its "       \
      "table, the rest for keys); samples it cannot hold are resolved the slower way. 0 = off.")  \
    X(http, max_json_body, SIZE, "1MiB", "1KiB", "1GiB", 0,                                        \
      "Largest body of the JSON API routes (everything but model import and the ingest routes, "   \
      "which use http.max_import_body and http.max_body); checked before the body is read.")      \
    X(http, max_import_body, SIZE, "32MiB", "1KiB", "1GiB", 0,                                     \
      "Largest body of POST /api/v1/model/import (park model JSON or a CSV ledger).")              \
    X(http, json_max_depth, INT, "64", "2", "1000", 0,                                             \
      "Deepest nesting of arrays and objects accepted in a JSON request body.")                    \
    X(http, json_max_values, INT, "1000000", "16", "100000000", 0,                                 \
      "Most values (numbers, strings, arrays, objects, ...) in a JSON request body; checked "      \
      "before it is parsed.")                                                                      \
    X(http, max_connections_per_address, INT, "128", "1", "100000", 0,                             \
      "Most HTTP connections open at once from one client address; more are refused.")            \
    X(http, header_timeout, DUR, "30s", "1s", "1h", 0,                                             \
      "Time a connection has to send a request's complete headers (from connecting, or from the "  \
      "end of the previous response); then it is closed.")                                        \
    X(http, body_min_rate, SIZE, "4KiB", "0", "1GiB", 0,                                           \
      "Bytes per second a request body must average once it has taken longer than "                \
      "http.header_timeout; a slower upload is closed. 0 = no minimum.")                           \
    X(http, idle_timeout, DUR, "2m", "1s", "1d", 0,                                                \
      "Close an HTTP connection on which nothing was sent or received for this long.")             \
    X(auth, ingest_loopback_open, BOOL, "true", "", "", 1,                                         \
      "Whether POST /write from a loopback address needs no token.")                               \
    X(auth, login_max_failures, INT, "5", "1", "1000", 1,                                          \
      "Failed logins allowed in a burst per user name and per trusted client (4 times as many "    \
      "per client address); one is given back every auth.login_window / this.")                    \
    X(auth, login_window, DUR, "15m", "1s", "1d", 1,                                               \
      "Time in which a spent login budget refills completely (docs/operations.md).")               \
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
    X(storage, shutdown_checkpoint, DUR, "60s", "0s", "1h", 0,                                     \
      "On SIGTERM/SIGINT, move the WAL's samples into compressed blocks, giving up (the next "     \
      "start replays the WAL) when building them takes longer than this. 0s = no checkpoint.")    \
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
    X(hj212, max_connections_per_address, INT, "100", "0", "100000", 0,                            \
      "Most HJ 212 connections open at once from one IP address (0 = no limit beyond "           \
      "hj212.max_connections); more are refused, so one address cannot lock out the others.")   \
    X(hj212, frame_timeout, DUR, "30s", "1s", "1h", 0,                                             \
      "Close an HJ 212 connection whose frame stays incomplete for this long.")                   \
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
    X(jt808, max_connections_per_address, INT, "1000", "0", "200000", 0,                           \
      "Most JT/T 808 connections open at once from one IP address (0 = no limit beyond "          \
      "jt808.max_connections; terminals behind a carrier NAT share addresses).")                 \
    X(jt808, frame_timeout, DUR, "30s", "1s", "1h", 0,                                             \
      "Close a JT/T 808 connection whose frame stays incomplete for this long.")                  \
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
    X(modbus, timeout, DUR, "1s", "10ms", "1m", 1,                                                 \
      "Modbus TCP response timeout; also the connect timeout.")                                    \
    X(modbus, retries, INT, "2", "0", "10", 1,                                                    \
      "Retries of a Modbus read that timed out, while its poll's deadline (start + max(poll "     \
      "interval, modbus.timeout)) has not passed.")                                                \
    X(modbus, offline_after, INT, "3", "1", "1000", 1,                                             \
      "Consecutive failed polls after which a Modbus device is offline.")                       \
    X(permits, valid_hot_special, DUR, "8h", "1m", "30d", 1,                                       \
      "Longest validity of a special-grade (特级) hot-work permit (GB 30871: 8 h); rules "           \
      "validity_window and validity_exceeded.")                                                    \
    X(permits, valid_hot_first, DUR, "8h", "1m", "30d", 1,                                         \
      "Longest validity of a first-grade (一级) hot-work permit (8 h).")                             \
    X(permits, valid_hot_second, DUR, "72h", "1m", "30d", 1,                                       \
      "Longest validity of a second-grade (二级) hot-work permit (72 h).")                           \
    X(permits, valid_confined, DUR, "24h", "1m", "30d", 1,                                         \
      "Longest validity of a confined-space (受限空间) permit (24 h).")                                \
    X(permits, valid_height, DUR, "7d", "1m", "90d", 1,                                            \
      "Longest validity of a work-at-height (高处) permit (7 d).")                                   \
    X(permits, valid_temp_power, DUR, "15d", "1m", "90d", 1,                                       \
      "Longest validity of a temporary-power (临时用电) permit (15 d).")                               \
    X(permits, analysis_max_age, DUR, "30m", "1m", "1d", 1,                                        \
      "Rule analysis_stale: hot work or confined space started longer than this after its "        \
      "last gas analysis.")                                                                        \
    X(permits, pause_hot_high, DUR, "30m", "1m", "1d", 1,                                          \
      "Rule pause_reanalysis: a special/first-grade hot-work pause longer than this needs a "      \
      "new gas analysis before resuming.")                                                         \
    X(permits, pause_other, DUR, "60m", "1m", "1d", 1,                                             \
      "Rule pause_reanalysis: a second-grade hot-work or confined-space pause longer than "        \
      "this needs a new gas analysis.")                                                            \
    X(permits, comb_max_vol_high, STR, "0.5", "", "", 1,                                           \
      "Rule analysis_fail: combustibles pass at most this %vol when the substance's LEL is >= "    \
      "4 %.")                                                                                      \
    X(permits, comb_max_vol_low, STR, "0.2", "", "", 1,                                            \
      "Rule analysis_fail: combustibles pass at most this %vol when the LEL is < 4 % or not "      \
      "given.")                                                                                    \
    X(permits, comb_max_lel, STR, "10", "", "", 1,                                                 \
      "Rule analysis_fail: a combustible analysis in %LEL without the substance's LEL passes "     \
      "at most this %LEL.")                                                                        \
    X(permits, o2_min, STR, "19.5", "", "", 1,                                                     \
      "Rule analysis_fail: a confined-space oxygen analysis passes from this %vol.")               \
    X(permits, o2_max, STR, "21", "", "", 1,                                                       \
      "Rule analysis_fail: a confined-space oxygen analysis passes up to this %vol.")              \
    X(permits, toxic_limits, STR, "h2s=7.1,co=17.2,cl2=0.34,nh3=28.2", "", "", 1,                  \
      "Rule analysis_fail: toxic analyses (ppm) pass at most these limits, gas=ppm "               \
      "comma-separated (GBZ 2.1 limits).")                                                         \
    X(permits, gas_radius, INT, "30", "1", "1000", 1,                                              \
      "Rule gas_near: combustible detectors within this many metres of hot work count.")           \
    X(permits, gas_amber_lel, INT, "10", "1", "100", 1,                                            \
      "Rule gas_near: a nearby combustible detector at this %LEL or more is amber (at its "        \
      "alarm1 setpoint red).")                                                                     \
    X(permits, toxic_radius, INT, "30", "1", "1000", 1,                                            \
      "Rule toxic_near: toxic and oxygen detectors within this many metres of a "                  \
      "confined-space entry count.")                                                               \
    X(permits, wind_hot_work, STR, "8.0", "", "", 1,                                               \
      "Rule wind_hot_work: outdoor hot work below special grade at this wind speed (m/s, "         \
      "force 5) or more is red.")                                                                  \
    X(permits, wind_lifting, STR, "10.8", "", "", 1,                                               \
      "Rule wind_lifting: outdoor lifting at this wind speed (m/s, force 6) or more is red.")      \
    X(permits, wind_max_age, DUR, "10m", "1s", "1d", 1,                                            \
      "Wind readings older than this are not used.")                                               \
    X(permits, reading_max_age, DUR, "5m", "1s", "1d", 1,                                          \
      "Detector readings older than this are not used.")                                           \
    X(permits, overlap_radius, INT, "10", "1", "1000", 1,                                          \
      "Rule overlap: hot work and confined-space permits open at the same time within this "       \
      "many metres.")                                                                              \
    X(permits, filing_grace, DUR, "0", "0", "1d", 1,                                               \
      "Rule filed_late: a permit filed this long after its planned start is still on time.")       \
    X(permits, night_from, INT, "20", "0", "23", 1,                                                \
      "Rule grade_low: hot work planned at night (from this Beijing hour) must be raised one "     \
      "grade.")                                                                                    \
    X(permits, night_to, INT, "6", "0", "23", 1,                                                   \
      "Rule grade_low: night ends at this Beijing hour.")                                          \
    X(permits, weekend_raises, BOOL, "true", "", "", 1,                                            \
      "Rule grade_low: hot work on Saturday or Sunday must be raised one grade.")                  \
    X(permits, spot_first_pct, INT, "30", "0", "100", 1,                                           \
      "Daily spot check: percentage of first-grade hot-work permits drawn (every "                 \
      "special-grade one is).")                                                                    \
    X(permits, spot_other_pct, INT, "10", "0", "100", 1,                                           \
      "Daily spot check: percentage of the other permits drawn.")                                  \
    X(permits, expire_after, DUR, "24h", "1m", "30d", 1,                                           \
      "A filed permit never started is cancelled by the system this long after its planned "       \
      "end (it would otherwise stay open for ever).")                                              \
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
      "Alarm events waiting for webhook delivery; beyond it new events are dropped (counted).")  \
    X(archive, enabled, BOOL, "true", "", "", 0,                                                   \
      "Keep the tamper-evident archive (docs/archive.md): every device frame received and every "  \
      "command sent, durable before the device is acknowledged, in signed transparency-log tiles.") \
    X(archive, park_id, STR, "park", "", "", 0,                                                    \
      "Park identifier in the archive's origin and key name archive.parkwatch.<park_id> "          \
      "(printable ASCII, no space or '+'). Never change it once a regulator holds the key.")       \
    X(archive, key_file, STR, "", "", "", 0,                                                       \
      "The archive's Ed25519 signing seed (32 bytes, mode 0600), created on first start; keep it " \
      "outside the data directory. Empty = <data directory>-archive.key beside it.")               \
    X(archive, checkpoint_interval, DUR, "10s", "1s", "1h", 0,                                     \
      "A new checkpoint of the archive is signed at most this often while it grows.")              \
    X(archive, resign_interval, DUR, "1h", "1m", "30d", 0,                                         \
      "An unchanged archive is signed again this often (a fresh checkpoint for witnesses).")      \
    X(archive, witnesses, STR, "", "", "", 0,                                                      \
      "Witnesses every new checkpoint is pushed to (c2sp.org/tlog-witness), comma-separated "      \
      "'URL VKEY' pairs: URL the witness prefix (e.g. https://other-park/archive/witness), VKEY "  \
      "its cosignature key (parkwatch archive vkey --witness there). Empty: none.")             \
    X(archive, witness_for, STR, "", "", "", 0,                                                    \
      "Act as a witness for these logs: comma-separated verifier keys of other parkwatch "         \
      "archives (their GET /archive/vkey). Empty: POST /archive/witness/add-checkpoint answers 404.") \
    X(archive, next_key_file, STR, "", "", "", 0,                                                  \
      "Key rotation: the next signing seed (created when missing). While set, checkpoints are "    \
      "signed by both keys and a key-rotation leaf records the old and new verifier keys.")       \
    X(archive, previous_vkeys, STR, "", "", "", 0,                                                 \
      "Comma-separated verifier keys of earlier signing keys whose checkpoints stay valid (after " \
      "a rotation: the old key, once archive.key_file is the new one).")                            \
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
      "Messages fetched from the aggregate stream at once (one group commit, then acknowledged).")  \
    X(workorders, p1_calendar, ENUM, "always", "always|workdays", "", 1,                           \
      "Calendar of P1 (e.g. a gas level 二级 alarm, a 重大 hazard) work-order clocks: always = "       \
      "24/7, workdays = working days only (Beijing time).")                                        \
    X(workorders, p1_sign, DUR, "30m", "1s", "365d", 1,                                            \
      "Sign-in deadline of a P1 work order after dispatch (1d = one working day on the "           \
      "workdays calendar).")                                                                       \
    X(workorders, p1_rectify, DUR, "24h", "1s", "3650d", 1,                                        \
      "Rectification deadline of a P1 work order after dispatch (1d = one working day on "         \
      "the workdays calendar).")                                                                   \
    X(workorders, p2_calendar, ENUM, "always", "always|workdays", "", 1,                           \
      "Calendar of P2 (e.g. a level 一级 alarm left unacknowledged) work-order clocks: always "      \
      "= 24/7, workdays = working days only (Beijing time).")                                      \
    X(workorders, p2_sign, DUR, "2h", "1s", "365d", 1,                                             \
      "Sign-in deadline of a P2 work order after dispatch (1d = one working day on the "           \
      "workdays calendar).")                                                                       \
    X(workorders, p2_rectify, DUR, "72h", "1s", "3650d", 1,                                        \
      "Rectification deadline of a P2 work order after dispatch (1d = one working day on "         \
      "the workdays calendar).")                                                                   \
    X(workorders, p3_calendar, ENUM, "workdays", "always|workdays", "", 1,                         \
      "Calendar of P3 (routine) work-order clocks: always = 24/7, workdays = working days "        \
      "only (Beijing time).")                                                                      \
    X(workorders, p3_sign, DUR, "1d", "1s", "365d", 1,                                             \
      "Sign-in deadline of a P3 work order after dispatch (1d = one working day on the "           \
      "workdays calendar).")                                                                       \
    X(workorders, p3_rectify, DUR, "7d", "1s", "3650d", 1,                                         \
      "Rectification deadline of a P3 work order after dispatch (1d = one working day on "         \
      "the workdays calendar).")                                                                   \
    X(workorders, p4_calendar, ENUM, "workdays", "always|workdays", "", 1,                         \
      "Calendar of P4 (administrative) work-order clocks: always = 24/7, workdays = working "      \
      "days only (Beijing time).")                                                                 \
    X(workorders, p4_sign, DUR, "3d", "1s", "365d", 1,                                             \
      "Sign-in deadline of a P4 work order after dispatch (1d = one working day on the "           \
      "workdays calendar).")                                                                       \
    X(workorders, p4_rectify, DUR, "15d", "1s", "3650d", 1,                                        \
      "Rectification deadline of a P4 work order after dispatch (1d = one working day on "         \
      "the workdays calendar).")                                                                   \
    X(workorders, review, DUR, "3d", "1s", "365d", 1,                                              \
      "The park's review clock for a submitted work order, in working days.")                      \
    X(workorders, reminder_lead, DUR, "15m", "0", "1d", 1,                                         \
      "Escalation L0 (reminder, 80 % of the time used) comes at least this long before the "       \
      "deadline.")                                                                                 \
    X(workorders, l2_after, DUR, "1d", "1s", "365d", 1,                                            \
      "Escalation L2 (park department head) this long after the deadline, in working days "        \
      "(P2-P4).")                                                                                  \
    X(workorders, l3_after, DUR, "5d", "1s", "365d", 1,                                            \
      "Escalation L3 (bureau leader) this long after the deadline, in working days (P2-P4).")      \
    X(workorders, l2_after_p1, DUR, "2h", "1s", "365d", 1,                                         \
      "Escalation L2 of a P1 work order this long after its deadline (24/7).")                     \
    X(workorders, l3_after_p1, DUR, "24h", "1s", "365d", 1,                                        \
      "Escalation L3 of a P1 work order this long after its deadline (24/7).")                     \
    X(workorders, extension_max, DUR, "30d", "1s", "3650d", 1,                                     \
      "Longest single extension a unit may ask for.")                                              \
    X(workorders, holidays, STR, "", "", "", 1,                                                    \
      "Public holidays (no working day): dates YYYY-MM-DD and ranges "                             \
      "YYYY-MM-DD..YYYY-MM-DD, comma-separated.")                                                  \
    X(workorders, workdays, STR, "", "", "", 1,                                                    \
      "Make-up working days (调休) on a weekend, same format as workorders.holidays.")               \
    X(workorders, auto_gas_level, INT, "2", "0", "2", 1,                                           \
      "An alarm reaching this gas level opens a P1 work order for its enterprise "                 \
      "automatically (0 = off).")                                                                  \
    X(workorders, unacked_after, DUR, "30m", "0", "30d", 1,                                        \
      "A level 一级 gas alarm still unacknowledged this long after it started opens a P2 work "      \
      "order (0 = off).")                                                                          \
    X(workorders, evidence_max, SIZE, "20MiB", "1KiB", "1GiB", 0,                                  \
      "Largest evidence file (photo, PDF) accepted for a work order.")                             \
    X(workorders, webhook_urls, STR, "", "", "", 0,                                                \
      "Comma-separated URLs (at most 8) that receive every work-order event as JSON (retries as "  \
      "for alarm webhooks: alarm.webhook_max_tries, _backoff, _timeout, _queue).")                 \
    X(board, window, DUR, "30d", "1d", "365d", 1,                                                  \
      "Red-yellow-blue board: the rolling window of work orders counted.")                         \
    X(board, penalty_overdue_major, INT, "15", "0", "100", 1,                                      \
      "Board: points off per overdue P1 or 重大-hazard work order.")                                 \
    X(board, penalty_overdue, INT, "5", "0", "100", 1,                                             \
      "Board: points off per other overdue work order.")                                           \
    X(board, penalty_return, INT, "3", "0", "100", 1,                                              \
      "Board: points off per rectification sent back.")                                            \
    X(board, penalty_late_sign, INT, "2", "0", "100", 1,                                           \
      "Board: points off per late sign-in.")                                                       \
    X(board, penalty_red_finding, INT, "2", "0", "100", 1,                                         \
      "Board: points off per red permit finding.")                                                 \
    X(board, blue_min, INT, "90", "0", "100", 1,                                                   \
      "Board: a score at least this is blue (蓝).")                                                 \
    X(board, yellow_min, INT, "75", "0", "100", 1,                                                 \
      "Board: a score at least this (and below board.blue_min) is yellow (黄); below it red "       \
      "(红).")                                                                                      \
    X(board, min_ontime_pct, INT, "80", "0", "100", 1,                                             \
      "Board: a unit closing fewer of its orders on time than this percentage is red "             \
      "whatever its score.")                                                                       \
    X(incidents, radius, INT, "1000", "50", "10000", 1,                                            \
      "An incident takes in the detectors of the same gas within this many metres of the "         \
      "first alarming one; a later alarm of that gas within it joins the incident instead of "     \
      "opening another.")                                                                          \
    X(incidents, min_interval, DUR, "10s", "1s", "1h", 1,                                          \
      "An incident is updated (source, zones, impacts) on a new reading of one of its "            \
      "detectors, at most this often.")                                                            \
    X(incidents, period, DUR, "1m", "10s", "1h", 1,                                                \
      "An open incident is updated at least this often, readings or not (the wind turns).")        \
    X(incidents, poll, DUR, "2s", "100ms", "1m", 1,                                                \
      "How often the incident engine looks at its detectors' latest readings.")                    \
    X(incidents, close_after, DUR, "15m", "0", "1d", 1,                                            \
      "An incident closes by itself once all its detectors have stayed below their alarm "         \
      "level this long (0 = only by an operator).")                                                \
    X(incidents, forecast, DUR, "15m", "1m", "6h", 1,                                              \
      "The threat zones assume the release goes on this long after the latest update.")            \
    X(incidents, history, DUR, "1h", "10m", "24h", 1,                                              \
      "The puff train starts at the incident's start, or this long ago when the incident is "      \
      "older.")                                                                                    \
    X(incidents, stale, DUR, "5m", "10s", "1d", 1,                                                 \
      "A detector or wind reading older than this is not used.")                                   \
    X(incidents, noise_pct, INT, "10", "1", "100", 1,                                              \
      "A detector reading below this percentage of its alarm level counts as silent (an "          \
      "upper bound on the concentration); at or above, as a reading.")                             \
    X(incidents, grid, INT, "10", "2", "100", 1,                                                   \
      "Spacing in metres of the candidate grid of the source estimate (widened by the "            \
      "estimator to stay bounded).")                                                               \
    X(incidents, vehicle_lookahead, DUR, "5m", "0", "1h", 1,                                       \
      "A moving vehicle is an impact when it is inside a zone or when the road straight "          \
      "ahead of it for this long at its speed crosses one.")                                       \
    X(incidents, workorders, BOOL, "true", "", "", 1,                                              \
      "Open a P1 work order to every enterprise inside the red (most severe) zone, once per "      \
      "enterprise and incident.")                                                                  \
    X(incidents, webhook_urls, STR, "", "", "", 0,                                                 \
      "Comma-separated URLs (at most 8) that receive every incident event (opened, updated, "      \
      "closed) as the full incident JSON (retries as for alarm webhooks: "                         \
      "alarm.webhook_max_tries, _backoff, _timeout, _queue).")
