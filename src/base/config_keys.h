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
      "Alarm events waiting for webhook delivery; beyond it new events are dropped (counted).")    \
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
      "whatever its score.")
