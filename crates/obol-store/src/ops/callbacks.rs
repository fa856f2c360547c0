//! The callbacks outbox. A callback is written in the transaction of the change it reports
//! (so there is no change without its callback and no callback without its change), claimed
//! by delivery workers with leases (and `SKIP LOCKED` on PostgreSQL), and delivered in order:
//! a payment's later callback is not claimed while an earlier one is still pending.
//!
//! The order is kept in the data, so that a claim is one look along `callbacks_due`: a pending
//! callback behind an earlier pending one of its payment (or transfer) is not due at all — its
//! `next_attempt_at` is [`WAITING`] — until that one is delivered or given up, which makes the
//! next one due in the same transaction. Every write below keeps that so; the claim still
//! checks the order itself, and the check costs one index look per callback claimed.

use std::collections::HashMap;

use obol_core::credentials::rotation::previous_callback_secret_signs;
use obol_core::ids::{MerchantId, P2pClientId, PaymentId, Uuid};
use obol_core::mode::Mode;
use obol_core::time::Timestamp;

use super::{opt_timestamp, parse_or_corrupt, timestamp};
use crate::db::{Backend, Db, query_one, query_opt};
use crate::error::{Entity, StoreError, StoreResult};
use crate::params;
use crate::value::{Row, Value};

/// What a callback reports on: a payment, or a P2P transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Payment(PaymentId),
    Transfer(Uuid),
}

impl Subject {
    pub fn as_str(&self) -> &str {
        match self {
            Subject::Payment(id) => id.as_str(),
            Subject::Transfer(id) => id.as_str(),
        }
    }

    /// The column that holds this kind of subject.
    fn column(&self) -> &'static str {
        match self {
            Subject::Payment(_) => "payment_id",
            Subject::Transfer(_) => "transfer_id",
        }
    }
}

/// Who signs a callback: the merchant (its callback secret) or a P2P client (its signing key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signer {
    Merchant(MerchantId),
    P2pClient(P2pClientId),
    None,
}

/// A callback to write.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub delivery_id: String,
    pub subject: Subject,
    pub signer: Signer,
    pub dialect: String,
    pub url: String,
    pub body: Vec<u8>,
    /// The payment's status in the dialect's words when the callback was made.
    pub transaction_status: String,
    /// The mode of the payment or transfer it reports (sent as `X-Obol-Mode`).
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    Pending,
    Delivered,
    /// Given up on; `last_error` says why.
    Failed,
}

impl CallbackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::Pending => "pending",
            CallbackStatus::Delivered => "delivered",
            CallbackStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<CallbackStatus> {
        match text {
            "pending" => Some(CallbackStatus::Pending),
            "delivered" => Some(CallbackStatus::Delivered),
            "failed" => Some(CallbackStatus::Failed),
            _ => None,
        }
    }
}

/// The `next_attempt_at` of a pending callback that waits for an earlier pending one of its
/// payment or transfer: never due by time (the largest value the column holds).
pub const WAITING: i64 = i64::MAX;

/// The SQL that says a callback `c` has an earlier callback of its subject still pending.
/// `status NOT IN (…)` rather than `status = 'pending'` (the same, by the table's CHECK): an
/// inequality cannot use `callbacks_due`, so the planner looks the subject up by its
/// `(payment_id, sequence)` or `(transfer_id, sequence)` key alone, whatever its statistics say
/// (on a table not yet analysed it otherwise intersected every pending row, for each row).
fn earlier_pending(c: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM callbacks earlier WHERE (earlier.payment_id = {c}.payment_id OR earlier.transfer_id = {c}.transfer_id) \
         AND earlier.sequence < {c}.sequence AND earlier.status NOT IN ('delivered', 'failed'))"
    )
}

/// A stored callback.
#[derive(Debug, Clone)]
pub struct Callback {
    pub id: i64,
    pub delivery_id: String,
    pub subject: Subject,
    pub signer: Signer,
    pub dialect: String,
    pub url: String,
    pub body: Vec<u8>,
    pub transaction_status: String,
    pub mode: Mode,
    pub sequence: i64,
    pub status: CallbackStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_response_code: Option<i64>,
    pub last_error: Option<String>,
}

impl Callback {
    /// Whether it waits for an earlier pending callback of its payment or transfer.
    pub fn waits_for_earlier(&self) -> bool {
        self.status == CallbackStatus::Pending && self.next_attempt_at.unix_micros() == WAITING
    }
}

const COLUMNS: &str = "id, delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, status, attempts, next_attempt_at, \
                       created_at, delivered_at, last_response_code, last_error, transfer_id, p2p_client_id, mode";

fn from_row(row: &Row) -> StoreResult<Callback> {
    Ok(Callback {
        id: row.int("id")?,
        delivery_id: row.text("delivery_id")?,
        subject: match (row.opt_text("payment_id")?, row.opt_text("transfer_id")?) {
            (Some(payment), None) => Subject::Payment(parse_or_corrupt(
                PaymentId::parse(&payment),
                "callback payment",
            )?),
            (None, Some(transfer)) => Subject::Transfer(parse_or_corrupt(
                Uuid::parse(&transfer),
                "callback transfer",
            )?),
            _ => return Err(super::corrupt("callback subject")),
        },
        signer: match (row.opt_int("merchant_id")?, row.opt_int("p2p_client_id")?) {
            (Some(merchant), _) => Signer::Merchant(MerchantId::new(merchant)),
            (None, Some(client)) => Signer::P2pClient(P2pClientId::new(client)),
            (None, None) => Signer::None,
        },
        dialect: row.text("dialect")?,
        url: row.text("url")?,
        body: row.blob("body")?,
        transaction_status: row.text("transaction_status")?,
        mode: Mode::parse(row.str("mode")?).ok_or_else(|| super::corrupt("callback mode"))?,
        sequence: row.int("sequence")?,
        status: CallbackStatus::parse(row.str("status")?)
            .ok_or_else(|| super::corrupt("callback status"))?,
        attempts: row.int("attempts")?,
        next_attempt_at: timestamp(row.int("next_attempt_at")?),
        created_at: timestamp(row.int("created_at")?),
        delivered_at: opt_timestamp(row.opt_int("delivered_at")?),
        last_response_code: row.opt_int("last_response_code")?,
        last_error: row.opt_text("last_error")?,
    })
}

/// Writes a callback after the payment's earlier ones: due now, or [`WAITING`] while an
/// earlier one is still pending.
pub async fn enqueue(
    db: &mut dyn Db,
    callback: NewCallback,
    now: Timestamp,
) -> StoreResult<Callback> {
    let siblings = siblings_locked(db, &callback.subject).await?;
    let sequence = siblings
        .iter()
        .map(|(sequence, _)| *sequence)
        .max()
        .unwrap_or(0)
        + 1;
    let due_at = if siblings
        .iter()
        .any(|(_, status)| *status == CallbackStatus::Pending)
    {
        WAITING
    } else {
        now.unix_micros()
    };
    let sql = format!(
        "INSERT INTO callbacks (delivery_id, payment_id, transfer_id, merchant_id, p2p_client_id, dialect, url, body, transaction_status, sequence, \
         next_attempt_at, created_at, mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $13, $11, $12) RETURNING {COLUMNS}"
    );
    let (payment, transfer) = match &callback.subject {
        Subject::Payment(id) => (Some(id.as_str().to_owned()), None),
        Subject::Transfer(id) => (None, Some(id.as_str().to_owned())),
    };
    let (merchant, client) = match callback.signer {
        Signer::Merchant(id) => (Some(id.get()), None),
        Signer::P2pClient(id) => (None, Some(id.get())),
        Signer::None => (None, None),
    };
    let row = query_one(
        db,
        &sql,
        params![
            callback.delivery_id.as_str(),
            payment,
            transfer,
            merchant,
            client,
            callback.dialect.as_str(),
            callback.url.as_str(),
            callback.body,
            callback.transaction_status.as_str(),
            sequence,
            now.unix_micros(),
            callback.mode.as_str(),
            due_at
        ],
        Entity::Callback,
    )
    .await?;
    db.note_callback_enqueued();
    from_row(&row)
}

/// The sequence numbers and statuses of a subject's callbacks. On PostgreSQL they are locked
/// (`FOR SHARE`) until the caller's transaction ends, and read as committed once any
/// transaction changing them has ended: a callback written or replayed as waiting for an
/// earlier pending one cannot miss that one's delivery being recorded at the same moment
/// (which, not seeing the new callback yet, would not make it due, and it would wait for
/// ever). On SQLite the one writer runs transactions one at a time.
async fn siblings_locked(
    db: &mut dyn Db,
    subject: &Subject,
) -> StoreResult<Vec<(i64, CallbackStatus)>> {
    let lock = if db.backend() == Backend::Postgres {
        " FOR SHARE"
    } else {
        ""
    };
    let column = subject.column();
    db.query(
        &format!("SELECT sequence, status FROM callbacks WHERE {column} = $1{lock}"),
        params![subject.as_str()],
    )
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.int("sequence")?,
            CallbackStatus::parse(row.str("status")?)
                .ok_or_else(|| super::corrupt("callback status"))?,
        ))
    })
    .collect()
}

/// Claims up to `limit` due callbacks for `owner`, leased until `now + lease_seconds`. Only
/// the earliest pending callback of each payment can be due.
///
/// The due ones are read first, `limit` of them in order along `callbacks_due`, and only those
/// are checked and locked: the cost follows `limit`, not the queue, whatever plan the database
/// picks (on PostgreSQL, a table not yet analysed is planned as if it were empty: a single
/// query that checked every due row before its `LIMIT` took 275 ms with 2,000 due).
pub async fn claim_due(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_seconds: i64,
    limit: i64,
) -> StoreResult<Vec<Callback>> {
    let due = "SELECT due.id FROM callbacks due WHERE due.status = 'pending' AND due.next_attempt_at <= $3 \
               AND (due.lease_until IS NULL OR due.lease_until < $3) ORDER BY due.next_attempt_at, due.id LIMIT $4";
    // Each backend then reads the callbacks by primary key: PostgreSQL from an array computed
    // once (a semi-join against the list may be planned as a loop over every due row), SQLite
    // from the list itself; PostgreSQL locks them, skipping those another node is claiming.
    let (chosen, skip_locked) = if db.backend() == Backend::Postgres {
        (
            format!("c.id = ANY(ARRAY({due}))"),
            " FOR UPDATE OF c SKIP LOCKED",
        )
    } else {
        (format!("c.id IN ({due})"), "")
    };
    let sql = format!(
        "UPDATE callbacks SET lease_owner = $1, lease_until = $2 WHERE id IN (\
         SELECT c.id FROM callbacks c WHERE {chosen} \
         AND c.status = 'pending' AND c.next_attempt_at <= $3 AND (c.lease_until IS NULL OR c.lease_until < $3) \
         AND NOT {}{skip_locked}) RETURNING {COLUMNS}",
        earlier_pending("c")
    );
    let rows = db
        .query(
            &sql,
            params![
                owner,
                now.plus_seconds(lease_seconds).unix_micros(),
                now.unix_micros(),
                limit
            ],
        )
        .await?;
    let mut callbacks = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
    callbacks.sort_by_key(|callback| (callback.next_attempt_at, callback.id));
    Ok(callbacks)
}

/// What one delivery attempt found.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub response_code: Option<u16>,
    pub delivered: bool,
    pub error: Option<String>,
}

/// What happens to a callback after an attempt that did not deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    GiveUp(String),
}

/// What became of a claimed callback.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// It was sent: the attempt is logged, and the callback is delivered, due again, or given
    /// up on (`after_failure` is read only when the attempt did not deliver it).
    Attempted {
        attempt: AttemptRecord,
        after_failure: AfterFailure,
    },
    /// It was not sent (its host was busy, too little of its lease was left, its node is
    /// stopping): the lease is given back and it is due again at `due_at`, no attempt counted.
    Released { due_at: Timestamp },
}

/// A claimed callback handed back by the node that claimed it.
#[derive(Debug, Clone)]
pub struct Settled {
    pub callback_id: i64,
    pub settlement: Settlement,
}

/// Rows one multi-row statement takes at most; longer lists are split.
const STATEMENT_ROWS_MAX: usize = 256;
/// The row counts multi-row statements are written for. A list is padded with rows of NULLs up
/// to the next of these (a NULL matches no row, and is left out), so a batch of any size takes
/// one statement of each kind, and each connection's statement cache holds five texts per kind
/// rather than one per length. Round trips count: under load, a batch of 100 recorded in
/// chunks of 64, 16, 4 and 1 rows took 20 statements and a quarter of a second.
const STATEMENT_ROWS: [usize; 5] = [1, 4, 16, 64, STATEMENT_ROWS_MAX];

/// The rows a statement for `count` items is written for.
fn statement_rows(count: usize) -> usize {
    STATEMENT_ROWS
        .iter()
        .copied()
        .find(|rows| *rows >= count)
        .unwrap_or(STATEMENT_ROWS_MAX)
}

/// `$first, …` for `count` parameters.
fn placeholders_from(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(CAST($first AS types[0]), …), …` for `rows` rows of parameters of these SQL types (a row
/// of a `VALUES` list gives PostgreSQL no column to infer its parameters' types from).
fn typed_rows(rows: usize, types: &[&str], first: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(cell, kind)| {
                    format!("CAST(${} AS {kind})", first + row * types.len() + cell)
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `params` padded with NULLs to `count`.
fn padded(mut params: Vec<Value>, count: usize) -> Vec<Value> {
    params.resize(count.max(params.len()), Value::Null);
    params
}

/// Records what became of claimed callbacks, all in the caller's one transaction. Each is
/// recorded only if `owner` still holds its lease: a callback whose lease lapsed may have gone
/// to another node, and is that node's now; what this node found is dropped, and the callback
/// is sent again (at least once). A callback delivered or given up on makes the next one of its
/// payment due at `now`. Returns the ids recorded.
pub async fn record_attempts(
    db: &mut dyn Db,
    owner: &str,
    settled: &[Settled],
    now: Timestamp,
) -> StoreResult<Vec<i64>> {
    let mut recorded = std::collections::HashSet::with_capacity(settled.len());
    // Delivered or given up: no longer pending, so the next one of the subject goes.
    let mut done = Vec::with_capacity(settled.len());
    let delivered: Vec<(i64, &AttemptRecord)> = settled
        .iter()
        .filter_map(|item| match &item.settlement {
            Settlement::Attempted { attempt, .. } if attempt.delivered => {
                Some((item.callback_id, attempt))
            }
            _ => None,
        })
        .collect();
    for chunk in delivered.chunks(STATEMENT_ROWS_MAX) {
        let marked = mark_delivered(db, owner, chunk).await?;
        done.extend(marked.iter().copied());
        recorded.extend(marked);
    }
    for item in settled {
        let id = item.callback_id;
        let changed = match &item.settlement {
            Settlement::Attempted { attempt, .. } if attempt.delivered => continue,
            Settlement::Attempted {
                attempt,
                after_failure: AfterFailure::RetryAt(at),
            } => retry_later(db, id, owner, attempt, *at).await?,
            Settlement::Attempted {
                attempt,
                after_failure: AfterFailure::GiveUp(reason),
            } => {
                let given_up = give_up(db, id, owner, attempt, reason).await?;
                if given_up {
                    done.push(id);
                }
                given_up
            }
            Settlement::Released { due_at } => release(db, id, owner, *due_at).await?,
        };
        if changed {
            recorded.insert(id);
        }
    }
    for chunk in done.chunks(STATEMENT_ROWS_MAX) {
        let_next_go(db, chunk, now).await?;
    }
    let logged: Vec<(i64, &AttemptRecord)> = settled
        .iter()
        .filter_map(|item| match &item.settlement {
            Settlement::Attempted { attempt, .. } if recorded.contains(&item.callback_id) => {
                Some((item.callback_id, attempt))
            }
            _ => None,
        })
        .collect();
    for chunk in logged.chunks(STATEMENT_ROWS_MAX) {
        log_attempts(db, chunk).await?;
    }
    Ok(settled
        .iter()
        .map(|item| item.callback_id)
        .filter(|id| recorded.contains(id))
        .collect())
}

/// Marks delivered the callbacks of `chunk` whose lease `owner` holds; their ids.
async fn mark_delivered(
    db: &mut dyn Db,
    owner: &str,
    chunk: &[(i64, &AttemptRecord)],
) -> StoreResult<Vec<i64>> {
    let rows = statement_rows(chunk.len());
    let sql = format!(
        "WITH finished (id, delivered_at, response_code) AS (VALUES {}) \
         UPDATE callbacks SET status = 'delivered', attempts = attempts + 1, delivered_at = finished.delivered_at, \
         last_response_code = finished.response_code, last_error = NULL, lease_owner = NULL, lease_until = NULL \
         FROM finished WHERE callbacks.id = finished.id AND callbacks.lease_owner = $1 RETURNING callbacks.id AS id",
        typed_rows(rows, &["BIGINT", "BIGINT", "BIGINT"], 2),
    );
    let mut params = vec![Value::from(owner)];
    for (id, attempt) in chunk {
        params.push(Value::Int(*id));
        params.push(Value::Int(attempt.finished_at.unix_micros()));
        params.push(Value::from(attempt.response_code.map(i64::from)));
    }
    let params = padded(params, 1 + rows * 3);
    db.query(&sql, &params)
        .await?
        .iter()
        .map(|row| row.int("id"))
        .collect()
}

/// Records a failed attempt; the callback is due again at `at` (its later ones keep waiting).
async fn retry_later(
    db: &mut dyn Db,
    callback_id: i64,
    owner: &str,
    attempt: &AttemptRecord,
    at: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = $1, last_response_code = $2, last_error = $3, lease_owner = NULL, \
             lease_until = NULL WHERE id = $4 AND lease_owner = $5",
            params![
                at.unix_micros(),
                attempt.response_code.map(i64::from),
                attempt.error.clone().unwrap_or_default(),
                callback_id,
                owner
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Records a failed attempt after which the callback is given up on.
async fn give_up(
    db: &mut dyn Db,
    callback_id: i64,
    owner: &str,
    attempt: &AttemptRecord,
    reason: &str,
) -> StoreResult<bool> {
    let error = attempt.error.clone().unwrap_or_default();
    let changed = db
        .execute(
            "UPDATE callbacks SET status = 'failed', attempts = attempts + 1, last_response_code = $1, last_error = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3 AND lease_owner = $4",
            params![
                attempt.response_code.map(i64::from),
                format!("{reason}: {error}"),
                callback_id,
                owner
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Gives a claimed callback back unsent, due again at `due_at`.
async fn release(
    db: &mut dyn Db,
    callback_id: i64,
    owner: &str,
    due_at: Timestamp,
) -> StoreResult<bool> {
    let changed = db
        .execute(
            "UPDATE callbacks SET next_attempt_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
            params![due_at.unix_micros(), callback_id, owner],
        )
        .await?;
    Ok(changed == 1)
}

/// Makes due at `now` the next pending callback of the subject of each callback of `done`
/// (each just delivered or given up on), if it was waiting. The next ones are found first,
/// from `done` by primary key and then by each subject's `(…_id, sequence)` key, and changed
/// by primary key: one statement that let PostgreSQL choose went through every waiting
/// callback for each of them (25 ms for 4 among 1,000 waiting, on a table not yet analysed).
async fn let_next_go(db: &mut dyn Db, done: &[i64], now: Timestamp) -> StoreResult<()> {
    let rows = statement_rows(done.len());
    let ids = placeholders_from(1, rows);
    let next = |column: &str| {
        format!(
            "SELECT (SELECT n.id FROM callbacks n WHERE n.{column} = finished.{column} AND n.sequence > finished.sequence \
             AND n.status NOT IN ('delivered', 'failed') ORDER BY n.sequence LIMIT 1) AS id \
             FROM callbacks finished WHERE finished.id IN ({ids}) AND finished.{column} IS NOT NULL"
        )
    };
    let sql = format!("{} UNION ALL {}", next("payment_id"), next("transfer_id"));
    let params = padded(done.iter().copied().map(Value::Int).collect(), rows);
    let mut next_ids = Vec::with_capacity(done.len());
    for row in db.query(&sql, &params).await? {
        if let Some(id) = row.opt_int("id")? {
            next_ids.push(Value::Int(id));
        }
    }
    if next_ids.is_empty() {
        return Ok(());
    }
    let rows = statement_rows(next_ids.len());
    let sql = format!(
        "UPDATE callbacks SET next_attempt_at = $1 WHERE id IN ({}) AND status = 'pending' AND next_attempt_at = {WAITING}",
        placeholders_from(2, rows)
    );
    let mut params = vec![Value::Int(now.unix_micros())];
    params.extend(next_ids);
    db.execute(&sql, &padded(params, 1 + rows)).await?;
    Ok(())
}

/// Logs attempts (the seed's `callback_logs` read them).
async fn log_attempts(db: &mut dyn Db, chunk: &[(i64, &AttemptRecord)]) -> StoreResult<()> {
    let rows = statement_rows(chunk.len());
    let sql = format!(
        "WITH logged (callback_id, started_at, finished_at, response_code, delivered, error) AS (VALUES {}) \
         INSERT INTO callback_attempts (callback_id, started_at, finished_at, response_code, delivered, error) \
         SELECT callback_id, started_at, finished_at, response_code, delivered, error FROM logged WHERE callback_id IS NOT NULL",
        typed_rows(
            rows,
            &["BIGINT", "BIGINT", "BIGINT", "BIGINT", "BOOLEAN", "TEXT"],
            1
        )
    );
    let mut params = Vec::with_capacity(rows * 6);
    for (id, attempt) in chunk {
        params.push(Value::Int(*id));
        params.push(Value::Int(attempt.started_at.unix_micros()));
        params.push(Value::Int(attempt.finished_at.unix_micros()));
        params.push(Value::from(attempt.response_code.map(i64::from)));
        params.push(Value::Bool(attempt.delivered));
        params.push(Value::from(attempt.error.clone()));
    }
    db.execute(&sql, &padded(params, rows * 6)).await?;
    Ok(())
}

/// The sealed keys that sign a callback, as stored; the delivery worker opens them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedKeys {
    /// A merchant's callback secret, and the one it replaced while that still signs beside
    /// it (SPEC §5: two `v1` during a rotation).
    Merchant {
        current: Vec<u8>,
        previous: Option<Vec<u8>>,
    },
    /// A P2P client's signing key.
    P2pClient(Vec<u8>),
}

/// The sealed keys of these signers, as they are at `now`. Read in the transaction that
/// claims their callbacks, so a rotation committed before a claim signs that claim's
/// callbacks on every node. A signer that does not exist is left out.
pub async fn sealed_keys(
    db: &mut dyn Db,
    signers: &[Signer],
    now: Timestamp,
) -> StoreResult<HashMap<Signer, SealedKeys>> {
    let mut merchants: Vec<i64> = Vec::new();
    let mut clients: Vec<i64> = Vec::new();
    for signer in signers {
        match signer {
            Signer::Merchant(id) => merchants.push(id.get()),
            Signer::P2pClient(id) => clients.push(id.get()),
            Signer::None => {}
        }
    }
    for ids in [&mut merchants, &mut clients] {
        ids.sort_unstable();
        ids.dedup();
    }
    let mut keys = HashMap::with_capacity(merchants.len() + clients.len());
    for chunk in merchants.chunks(STATEMENT_ROWS_MAX) {
        let rows = statement_rows(chunk.len());
        let sql = format!(
            "SELECT id, callback_secret_enc, previous_callback_secret_enc, previous_callback_secret_until FROM merchants WHERE id IN ({})",
            placeholders_from(1, rows)
        );
        let params = padded(chunk.iter().copied().map(Value::Int).collect(), rows);
        for row in db.query(&sql, &params).await? {
            let previous = match (
                row.opt_blob("previous_callback_secret_enc")?,
                opt_timestamp(row.opt_int("previous_callback_secret_until")?),
            ) {
                (Some(secret), Some(until)) if previous_callback_secret_signs(until, now) => {
                    Some(secret)
                }
                _ => None,
            };
            keys.insert(
                Signer::Merchant(MerchantId::new(row.int("id")?)),
                SealedKeys::Merchant {
                    current: row.blob("callback_secret_enc")?,
                    previous,
                },
            );
        }
    }
    for chunk in clients.chunks(STATEMENT_ROWS_MAX) {
        let rows = statement_rows(chunk.len());
        let sql = format!(
            "SELECT id, signing_key_enc FROM p2p_clients WHERE id IN ({})",
            placeholders_from(1, rows)
        );
        let params = padded(chunk.iter().copied().map(Value::Int).collect(), rows);
        for row in db.query(&sql, &params).await? {
            keys.insert(
                Signer::P2pClient(P2pClientId::new(row.int("id")?)),
                SealedKeys::P2pClient(row.blob("signing_key_enc")?),
            );
        }
    }
    Ok(keys)
}

/// A transfer's callbacks, oldest first.
pub async fn for_transfer(db: &mut dyn Db, transfer: &Uuid) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE transfer_id = $1 ORDER BY sequence");
    db.query(&sql, params![transfer.as_str()])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Every callback, oldest first.
pub async fn all(db: &mut dyn Db) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks ORDER BY sequence");
    db.query(&sql, &[]).await?.iter().map(from_row).collect()
}

/// A payment's callbacks, oldest first (for `callback_logs`).
pub async fn for_payment(db: &mut dyn Db, payment: &PaymentId) -> StoreResult<Vec<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE payment_id = $1 ORDER BY sequence");
    db.query(&sql, params![payment.as_str()])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn find_by_delivery_id(
    db: &mut dyn Db,
    delivery_id: &str,
) -> StoreResult<Option<Callback>> {
    let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE delivery_id = $1");
    query_opt(db, &sql, params![delivery_id])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// Sends a callback again: pending, same delivery id and body; due now, or once the earlier
/// callbacks of its payment still pending are done. Its later pending callbacks wait for it
/// (unless one is being sent already).
pub async fn replay(db: &mut dyn Db, delivery_id: &str, now: Timestamp) -> StoreResult<Callback> {
    let callback = find_by_delivery_id(db, delivery_id)
        .await?
        .ok_or(StoreError::NotFound(Entity::Callback))?;
    let waits = siblings_locked(db, &callback.subject)
        .await?
        .iter()
        .any(|(sequence, status)| {
            *sequence < callback.sequence && *status == CallbackStatus::Pending
        });
    let due_at = if waits { WAITING } else { now.unix_micros() };
    db.execute(
        "UPDATE callbacks SET status = 'pending', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL WHERE id = $2",
        params![due_at, callback.id],
    )
    .await?;
    let column = callback.subject.column();
    db.execute(
        &format!(
            "UPDATE callbacks SET next_attempt_at = {WAITING} WHERE {column} = $1 AND sequence > $2 AND status = 'pending' \
             AND (lease_until IS NULL OR lease_until < $3)"
        ),
        params![callback.subject.as_str(), callback.sequence, now.unix_micros()],
    )
    .await?;
    find_by_delivery_id(db, delivery_id)
        .await?
        .ok_or(StoreError::NotFound(Entity::Callback))
}

/// Gives back the leases `owner` holds (graceful shutdown).
pub async fn release_leases(db: &mut dyn Db, owner: &str) -> StoreResult<u64> {
    db.execute("UPDATE callbacks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND status = 'pending'", params![owner]).await
}

/// When the next pending callback not due at `now` becomes due by time (one look along the
/// `callbacks_due` index). Callbacks due already are claimable or held under a lease, and
/// [`WAITING`] ones become due when their earlier one is done: the worker learns of those by
/// claiming, and a lease that lapses (its node died) is found by polling.
pub async fn next_due_at(db: &mut dyn Db, now: Timestamp) -> StoreResult<Option<Timestamp>> {
    let row = query_opt(
        db,
        "SELECT MIN(next_attempt_at) AS next_due_at FROM callbacks WHERE status = 'pending' AND next_attempt_at > $1 AND next_attempt_at < $2",
        params![now.unix_micros(), WAITING],
    )
    .await?;
    Ok(match row {
        Some(row) => opt_timestamp(row.opt_int("next_due_at")?),
        None => None,
    })
}

/// Callbacks by status (for metrics).
pub async fn counts(db: &mut dyn Db) -> StoreResult<Vec<(String, i64)>> {
    let rows = db
        .query(
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS count FROM callbacks GROUP BY status ORDER BY status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.text("status")?, row.int("count")?)))
        .collect()
}
