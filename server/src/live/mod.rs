//! The live machinery: what spans server processes on one database.
//!
//! | module | holds |
//! |---|---|
//! | [`notify`] | the NOTIFY protocol, whole: channels, payloads, the statements that send |
//! | [`listener`] | this process's one `LISTEN` connection, its fence, the in-process fan-out |
//! | [`token_cache`] | token owners in memory, exact through the listener's notices and fence |
//! | [`history_writer`] | group commit of history rows, announced after each commit |
//! | [`events`] | `GET /events`: one subscriber per stream, catching up from the table |
//!
//! # Guarantees
//!
//! Each is kept by one mechanism and proven by the named tests (in
//! `server/tests/api/`); a change here must keep all four.
//!
//! 1. **A 200 means a committed row.** A `/reverse` or `/piglatin` request
//!    waits in [`history_writer`] until the batch holding its row has
//!    committed (or failed: then that batch's requests get its error, and
//!    nobody else's), and shutdown drains the writer before the process ends.
//!    A user deleted while their row waits loses only that row (migration
//!    V7, kept by V12), not the other users' rows in the batch; so does a
//!    row whose token the insert finds dead (V12).
//!    Proven by `writer::each_answer_is_its_own_row_and_batches_share_a_commit`,
//!    `writer::a_connection_lost_mid_batch_fails_that_batch_and_nothing_else`,
//!    `writer::a_user_deleted_mid_batch_loses_only_their_own_row`,
//!    `servers::shutdown_with_a_full_history_queue_commits_every_200`,
//!    `balancer::sigterm_to_one_replica_mid_load_loses_no_request`.
//! 2. **Each user's rows commit in id order.** The writer never puts a user
//!    with a batch committing into another batch (it waits instead), and
//!    migration V3 takes a per-user lock in the insert, so across processes
//!    a user's ids are committed in ascending order. Proven by
//!    `writer::concurrent_requests_get_their_own_rows_and_a_users_order_is_kept`,
//!    `writer::a_users_rows_commit_in_id_order_across_writers`; other users
//!    are not held behind it: `writer::a_users_next_row_does_not_hold_up_another_users_row`.
//! 3. **A revoked token is refused by every replica from its next request.**
//!    A write's token is checked by the write's own insert (migration
//!    V12), in the transaction that commits the row, so a write sees every
//!    revocation committed before it. Other requests: a token is deleted
//!    only by [`notify::revoke_token`], which notifies in
//!    the deleting transaction; before answering from memory the
//!    [`token_cache`] passes the listener's fence (an empty query on the
//!    `LISTEN` connection: every notice committed before it has arrived),
//!    and while the listener is down the cache is emptied and bypassed.
//!    Proven by `tokens::a_logout_on_one_server_is_refused_by_another_on_its_next_request`,
//!    `tokens::tokens_are_answered_from_memory_until_a_notice_says_otherwise`,
//!    `tokens::a_killed_listener_empties_the_cache_which_is_bypassed_until_listening_again`,
//!    `balancer::seed_session_and_tokens_work_across_three_replicas`,
//!    `writer::a_writes_token_is_checked_by_its_batch_and_only_its_row_fails`.
//! 4. **A resumed stream misses nothing and repeats nothing.** By guarantee
//!    2 the last id a client saw is a cursor: [`events`] sends a user's rows
//!    strictly in id order, each only after the one before it (a row whose
//!    predecessor has not been seen is read from the table instead), and
//!    anything missed (a lag, the listener reconnecting: `Resync`, a client
//!    reconnecting with `Last-Event-ID`) is read from the table after the
//!    cursor. A stream without a cursor subscribes, then reads the newest id,
//!    both before its 200 is sent: every row committed after the client sees
//!    the 200 reaches it. Proven by `events::last_event_id_resumes_without_loss_or_duplicates`,
//!    `events::rows_announced_out_of_order_are_streamed_in_order`,
//!    `events::an_entry_written_on_one_server_arrives_on_a_stream_held_at_another`,
//!    `listener::notifications_become_rows_and_a_killed_connection_comes_back`,
//!    `balancer::a_stream_follower_misses_nothing_when_its_replica_stops`.
//!
//!    Deletions are not rows, so this cursor cannot replay them: an
//!    `event: delete` goes only to streams open when the delete's notice
//!    ([`notify::delete_entry`], [`notify::delete_all`], sent in the
//!    deleting statement) arrives, after the deleted row's own event. A
//!    client that reconnects (with `Last-Event-ID` or not) may have missed
//!    some: on every (re)connect it reloads what it shows from
//!    `/get-history` (the TUI reloads its first page), which has no deleted
//!    row. A stream that stays open across a `Resync` or a lag catches up
//!    entries, not deletions (a known gap, docs/server.md). Proven by
//!    `deletion::a_stream_held_at_another_server_hears_of_each_delete`.

pub mod events;
pub mod history_writer;
pub mod listener;
pub mod notify;
pub mod token_cache;
