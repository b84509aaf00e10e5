//! The SQL of the orders service's tables. Queries are checked at run time
//! (no build-time database); each function takes the executor it should
//! run on, so callers decide what shares a transaction.
//!
//! A status changes only through [`apply`], which takes a [`Transition`]
//! (so only a legal one) and updates `WHERE status = <from>`: a change that
//! raced with another finds no row and is not applied. It also announces
//! the change ([`crate::watch::announce`]) in the same transaction, so
//! waiters hear of it exactly when it commits. The insert and every change
//! write the order's history entry in the same statement, so the history
//! holds exactly the changes that committed.

use std::time::Duration;

use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder, Row, postgres::PgRow};
use uuid::Uuid;

use crate::domain::{
    Cursor, HistoryEntry, Order, OrderId, OrderLine, OrderStatus, ProductId, Transition,
};

const COLUMNS: &str = "id, user_id, product_id, quantity, unit_price, total_amount, status, \
                       rejection_reason, created_at, updated_at";

/// The order's lines when it has more than one (ADR 0018), as JSON
/// `[[product_id, quantity, unit_price], ...]`; NULL for one line, which its
/// own columns hold. Selected beside [`COLUMNS`] from the order's row
/// aliased `o`.
const LINES: &str = "(SELECT json_agg(json_build_array(l.product_id, l.quantity, l.unit_price) \
                     ORDER BY l.position)::text FROM order_lines l WHERE l.order_id = o.id) AS lines";

/// A new, PENDING order: its lines (at least one) and their total.
pub struct NewRow {
    pub id: OrderId,
    pub user_id: Uuid,
    pub lines: Vec<OrderLine>,
    pub total_amount: i64,
}

/// Writes the order (its first line in its own columns), its lines when it
/// has several, and its first history entry, in one statement.
pub async fn insert(conn: &mut PgConnection, row: NewRow) -> Result<Order, sqlx::Error> {
    let Some(first) = row.lines.first().copied() else {
        return Err(sqlx::Error::Protocol("an order without lines".into()));
    };
    let several = if row.lines.len() > 1 {
        row.lines.as_slice()
    } else {
        &[]
    };
    let products: Vec<Uuid> = several.iter().map(|l| l.product_id.as_uuid()).collect();
    let quantities: Vec<i64> = several.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = several.iter().map(|l| l.unit_price).collect();
    let sql = format!(
        "WITH placed AS (
             INSERT INTO orders (id, user_id, product_id, quantity, unit_price, total_amount, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING {COLUMNS}
         ), lined AS (
             INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price)
             SELECT $1, n, product_id, quantity, unit_price
             FROM unnest($8::uuid[], $9::bigint[], $10::bigint[])
                 WITH ORDINALITY AS l(product_id, quantity, unit_price, n)
         ), noted AS (
             INSERT INTO order_history (order_id, status, reason, at)
             SELECT id, status, 'placed', created_at FROM placed
         )
         SELECT {COLUMNS}, NULL::text AS lines FROM placed"
    );
    let inserted = sqlx::query(&sql)
        .bind(row.id.as_uuid())
        .bind(row.user_id)
        .bind(first.product_id.as_uuid())
        .bind(first.quantity)
        .bind(first.unit_price)
        .bind(row.total_amount)
        .bind(OrderStatus::Pending.as_str())
        .bind(products)
        .bind(quantities)
        .bind(prices)
        .fetch_one(conn)
        .await?;
    // The lines just written are not visible to this statement's reads.
    Ok(Order {
        lines: row.lines,
        ..order_from(&inserted)?
    })
}

/// Serialises the placements of one customer until the transaction ends,
/// so the counts below and the insert that follows them act as one. The
/// two-key form keeps clear of the single-key locks migrations take.
pub async fn lock_customer(conn: &mut PgConnection, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('orders.place'), hashtext($1::text))")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The customer's orders still PENDING. Run it as its own statement after
/// [`lock_customer`]: a statement's snapshot is taken when it starts, so a
/// count in the locking statement could miss an order committed meanwhile.
pub async fn pending_of(conn: &mut PgConnection, user_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1 AND status = 'PENDING'")
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// A placement made before under an idempotency key: what it asked for and
/// the order it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedPlacement {
    pub request: String,
    pub order_id: OrderId,
}

/// The placement `user_id` made with `key` within `kept` of now, if any.
pub async fn keyed_placement(
    executor: impl PgExecutor<'_>,
    user_id: Uuid,
    key: &str,
    kept: Duration,
) -> Result<Option<KeyedPlacement>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT request, order_id FROM placement_keys
         WHERE user_id = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)",
    )
    .bind(user_id)
    .bind(key)
    .bind(kept.as_secs_f64())
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(KeyedPlacement {
            request: row.try_get("request")?,
            order_id: OrderId::from(row.try_get::<Uuid, _>("order_id")?),
        })
    })
    .transpose()
}

/// Records that `user_id`'s placement with `key` made `order_id`, taking
/// the key over from an expired placement if one is still stored. `false`
/// when a live placement holds the key (never under [`lock_customer`],
/// which the placement holds; the primary key stops it regardless).
pub async fn insert_keyed_placement(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    placement: &KeyedPlacement,
    kept: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO placement_keys (user_id, key, request, order_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, key) DO UPDATE
             SET request = EXCLUDED.request, order_id = EXCLUDED.order_id, created_at = now()
             WHERE placement_keys.created_at <= now() - make_interval(secs => $5)",
    )
    .bind(user_id)
    .bind(key)
    .bind(&placement.request)
    .bind(placement.order_id.as_uuid())
    .bind(kept.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes up to `limit` keys older than `kept`; how many. The age is
/// checked again on the row being deleted: a key taken over by a placement
/// after the inner select picked it is young again and stays.
pub async fn purge_expired_keys(
    executor: impl PgExecutor<'_>,
    kept: Duration,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM placement_keys
         WHERE created_at <= now() - make_interval(secs => $1)
           AND (user_id, key) IN (
               SELECT user_id, key FROM placement_keys
               WHERE created_at <= now() - make_interval(secs => $1)
               LIMIT $2)",
    )
    .bind(kept.as_secs_f64())
    .bind(limit)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

/// The customer's orders placed within `window` of now.
pub async fn placed_within(
    conn: &mut PgConnection,
    user_id: Uuid,
    window: Duration,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM orders
         WHERE user_id = $1 AND created_at > now() - make_interval(secs => $2)",
    )
    .bind(user_id)
    .bind(window.as_secs_f64())
    .fetch_one(conn)
    .await
}

pub async fn find(
    executor: impl PgExecutor<'_>,
    id: OrderId,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, {LINES} FROM orders o WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(order_from).transpose()
}

/// The order with this id, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: OrderId) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, {LINES} FROM orders o WHERE id = $1 FOR UPDATE");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(order_from).transpose()
}

/// The orders among `ids` that exist (and belong to `owner`, when given),
/// in no particular order.
pub async fn find_many(
    executor: impl PgExecutor<'_>,
    ids: &[OrderId],
    owner: Option<Uuid>,
) -> Result<Vec<Order>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS}, {LINES} FROM orders o WHERE id = ANY("
    ));
    query.push_bind(ids).push(")");
    if let Some(owner) = owner {
        query.push(" AND user_id = ").push_bind(owner);
    }
    let rows = query.build().fetch_all(executor).await?;
    rows.iter().map(order_from).collect()
}

/// Up to `limit` orders after `after`, newest first (`created_at`, then
/// `id`, descending), only `owner`'s when given. The two indexes on
/// `(user_id, created_at DESC, id DESC)` and `(created_at DESC, id DESC)`
/// serve both forms directly.
pub async fn list(
    executor: impl PgExecutor<'_>,
    owner: Option<Uuid>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS}, {LINES} FROM orders o WHERE TRUE"
    ));
    if let Some(owner) = owner {
        query.push(" AND user_id = ").push_bind(owner);
    }
    if let Some(cursor) = after {
        query
            .push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    let rows = query.build().fetch_all(executor).await?;
    rows.iter().map(order_from).collect()
}

/// Up to `limit` PENDING orders unchanged for longer than `older_than`,
/// oldest first, locked until the transaction ends. Rows another
/// transaction holds (another instance's sweep, a settlement in progress)
/// are skipped, not waited for.
pub async fn lock_stale_pending(
    conn: &mut PgConnection,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let micros = i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {COLUMNS}, {LINES} FROM orders o
         WHERE status = $1 AND updated_at < now() - $2 * interval '1 microsecond'
         ORDER BY updated_at
         LIMIT $3
         FOR UPDATE SKIP LOCKED"
    );
    let rows = sqlx::query(&sql)
        .bind(OrderStatus::Pending.as_str())
        .bind(micros)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(order_from).collect()
}

/// Marks (locked) orders as just looked at, so the next sweep leaves them
/// alone for another while.
pub async fn touch(conn: &mut PgConnection, ids: &[OrderId]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query("UPDATE orders SET updated_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves order `id` along `transition` if it is still in the status the
/// transition starts from, records why in its history, and notifies
/// waiters at commit. `why` is also the order's `rejection_reason` when it
/// is rejected. `None` when the order was not in that status.
pub async fn apply(
    conn: &mut PgConnection,
    id: OrderId,
    transition: Transition,
    why: Option<&str>,
) -> Result<Option<Order>, sqlx::Error> {
    let rejection = why.filter(|_| transition.to() == OrderStatus::Rejected);
    let sql = format!(
        "WITH moved AS (
             UPDATE orders SET status = $3, rejection_reason = $4, updated_at = now()
             WHERE id = $1 AND status = $2
             RETURNING {COLUMNS}
         ), noted AS (
             INSERT INTO order_history (order_id, status, reason, at)
             SELECT id, status, $5, updated_at FROM moved
         )
         SELECT {COLUMNS}, {LINES} FROM moved o"
    );
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .bind(transition.from().as_str())
        .bind(transition.to().as_str())
        .bind(rejection)
        .bind(why)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    crate::watch::announce(conn, id).await?;
    order_from(&row).map(Some)
}

/// The history of each of `ids` that exists (and belongs to `owner`, when
/// given): its entries oldest first, the orders in no particular order.
pub async fn histories(
    executor: impl PgExecutor<'_>,
    ids: &[OrderId],
    owner: Option<Uuid>,
) -> Result<Vec<(OrderId, HistoryEntry)>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT h.order_id, h.status, h.reason, h.at FROM order_history h
         JOIN orders o ON o.id = h.order_id WHERE h.order_id = ANY(",
    );
    query.push_bind(ids).push(")");
    if let Some(owner) = owner {
        query.push(" AND o.user_id = ").push_bind(owner);
    }
    // Ties in time (never seen: each change is its own transaction) fall
    // back to the lifecycle's order.
    query.push(
        " ORDER BY h.order_id, h.at, CASE h.status WHEN 'PENDING' THEN 0 WHEN 'CANCELLED' THEN 2 ELSE 1 END",
    );
    let rows = query.build().fetch_all(executor).await?;
    rows.iter()
        .map(|row| {
            let entry = HistoryEntry {
                status: status_from(row)?,
                reason: row.try_get("reason")?,
                at: row.try_get("at")?,
            };
            Ok((OrderId::from(row.try_get::<Uuid, _>("order_id")?), entry))
        })
        .collect()
}

fn status_from(row: &PgRow) -> Result<OrderStatus, sqlx::Error> {
    let status: &str = row.try_get("status")?;
    status
        .parse()
        .map_err(|message: String| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: message.into(),
        })
}

fn order_from(row: &PgRow) -> Result<Order, sqlx::Error> {
    let first = OrderLine {
        product_id: ProductId::from(row.try_get::<Uuid, _>("product_id")?),
        quantity: row.try_get("quantity")?,
        unit_price: row.try_get("unit_price")?,
    };
    let lines = match row.try_get::<Option<String>, _>("lines")? {
        None => vec![first],
        Some(json) => serde_json::from_str::<Vec<(Uuid, i64, i64)>>(&json)
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "lines".into(),
                source: e.into(),
            })?
            .into_iter()
            .map(|(product_id, quantity, unit_price)| OrderLine {
                product_id: ProductId::from(product_id),
                quantity,
                unit_price,
            })
            .collect(),
    };
    Ok(Order {
        id: OrderId::from(row.try_get::<Uuid, _>("id")?),
        user_id: row.try_get("user_id")?,
        product_id: first.product_id,
        quantity: first.quantity,
        unit_price: first.unit_price,
        lines,
        total_amount: row.try_get("total_amount")?,
        status: status_from(row)?,
        rejection_reason: row.try_get("rejection_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
