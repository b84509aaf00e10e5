//! All SQL of the products service, and nothing else. Queries are checked
//! at run time (no build-time database); each function takes the executor
//! it should run on, so callers decide what shares a transaction: the
//! catalogue's writes share theirs with the outbox, the saga's share the
//! consumer's with the processed-event record.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder, Row, postgres::PgRow};
use uuid::Uuid;

use crate::domain::{Cursor, NameSearch, Product, ProductId};

const COLUMNS: &str = "id, name, description, price, stock, created_at, updated_at";

/// The columns of a new product.
pub struct NewRow<'a> {
    pub id: ProductId,
    pub name: &'a str,
    pub description: &'a str,
    pub price: i64,
    pub stock: i64,
}

pub async fn insert(conn: &mut PgConnection, row: NewRow<'_>) -> Result<Product, sqlx::Error> {
    let sql = format!(
        "INSERT INTO products (id, name, description, price, stock)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(row.id.as_uuid())
        .bind(row.name)
        .bind(row.description)
        .bind(row.price)
        .bind(row.stock)
        .fetch_one(conn)
        .await?;
    product_from(&row)
}

pub async fn find(
    executor: impl PgExecutor<'_>,
    id: ProductId,
) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(product_from).transpose()
}

/// The products among `ids` that exist, in no particular order.
pub async fn find_many(
    executor: impl PgExecutor<'_>,
    ids: &[ProductId],
) -> Result<Vec<Product>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = ANY($1)");
    let rows = sqlx::query(&sql).bind(ids).fetch_all(executor).await?;
    rows.iter().map(product_from).collect()
}

/// Up to `limit` products after `after`, newest first by `(created_at, id)`
/// (the `products_created_at_id_idx` index read backwards), whose name
/// contains `search` in any case.
pub async fn list(
    executor: impl PgExecutor<'_>,
    after: Option<Cursor>,
    search: Option<&NameSearch>,
    limit: i64,
) -> Result<Vec<Product>, sqlx::Error> {
    let mut query: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM products WHERE true"));
    if let Some(cursor) = after {
        query
            .push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    if let Some(search) = search {
        query
            .push(" AND name ILIKE ")
            .push_bind(search.like_pattern())
            .push(" ESCAPE '\\'");
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    let rows = query.build().fetch_all(executor).await?;
    rows.iter().map(product_from).collect()
}

/// The product with this id, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: ProductId) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(product_from).transpose()
}

/// Writes a (locked) product's name, description, price and stock.
pub async fn update(conn: &mut PgConnection, product: &Product) -> Result<Product, sqlx::Error> {
    let sql = format!(
        "UPDATE products
         SET name = $2, description = $3, price = $4, stock = $5, updated_at = now()
         WHERE id = $1
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(product.id.as_uuid())
        .bind(&product.name)
        .bind(&product.description)
        .bind(product.price)
        .bind(product.stock)
        .fetch_one(conn)
        .await?;
    product_from(&row)
}

/// One line of stock wanted for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub product_id: ProductId,
    pub quantity: i64,
}

/// Takes `line`'s items if that many are there and records the
/// reservation, in one statement, so two orders can never both take the
/// last item: the stock left, or `None` (nothing written) when there is no
/// such product or too little stock. A second reservation of the product
/// for the same order fails on the primary key, so a racing duplicate rolls
/// back.
pub async fn reserve_one(
    conn: &mut PgConnection,
    order_id: Uuid,
    line: Line,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH taken AS (
             UPDATE products SET stock = stock - $3, updated_at = now()
             WHERE id = $2 AND stock >= $3
             RETURNING id, stock
         ), recorded AS (
             INSERT INTO reservations (order_id, product_id, quantity)
             SELECT $1, id, $3 FROM taken
         )
         SELECT stock FROM taken",
    )
    .bind(order_id)
    .bind(line.product_id.as_uuid())
    .bind(line.quantity)
    .fetch_optional(conn)
    .await
}

/// Locks the products among `ids` that exist, in id order, and returns
/// their stock. Every writer of several product rows in one transaction
/// locks them in this order first, so no two can wait on each other.
pub async fn lock_stock(
    conn: &mut PgConnection,
    ids: &[ProductId],
) -> Result<HashMap<ProductId, i64>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let rows =
        sqlx::query("SELECT id, stock FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|row| {
            Ok((
                ProductId::from(row.try_get::<Uuid, _>("id")?),
                row.try_get("stock")?,
            ))
        })
        .collect()
}

/// Takes every line's items from its product, locked and known to hold
/// enough ([`lock_stock`]), and records the reservations, in one
/// statement: the stock left of each line's product, in the lines' order.
pub async fn reserve_lines(
    conn: &mut PgConnection,
    order_id: Uuid,
    lines: &[Line],
) -> Result<Vec<i64>, sqlx::Error> {
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id.as_uuid()).collect();
    let quantities: Vec<i64> = lines.iter().map(|l| l.quantity).collect();
    sqlx::query_scalar(
        "WITH wanted AS (
             SELECT * FROM unnest($2::uuid[], $3::bigint[]) WITH ORDINALITY AS w(product_id, quantity, n)
         ), taken AS (
             UPDATE products p SET stock = p.stock - w.quantity, updated_at = now()
             FROM wanted w
             WHERE p.id = w.product_id
             RETURNING p.id, p.stock
         ), recorded AS (
             INSERT INTO reservations (order_id, product_id, quantity)
             SELECT $1, product_id, quantity FROM wanted
         )
         SELECT t.stock FROM taken t JOIN wanted w ON w.product_id = t.id ORDER BY w.n",
    )
    .bind(order_id)
    .bind(products)
    .bind(quantities)
    .fetch_all(conn)
    .await
}

/// The product's stock, `None` when there is no such product.
pub async fn stock_of(
    executor: impl PgExecutor<'_>,
    id: ProductId,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await
}

/// Stock reserved for one line of an order, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub product_id: ProductId,
    pub quantity: i64,
    /// Still set aside (RESERVED), not yet given back (RELEASED).
    pub held: bool,
    /// The product's stock now.
    pub stock: i64,
}

/// The stock ever reserved for this order, released or not, one entry per
/// line, by product id; empty when none was.
pub async fn reservations(
    executor: impl PgExecutor<'_>,
    order_id: Uuid,
) -> Result<Vec<Reservation>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.product_id, r.quantity, r.status, p.stock
         FROM reservations r JOIN products p ON p.id = r.product_id
         WHERE r.order_id = $1
         ORDER BY r.product_id",
    )
    .bind(order_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Reservation {
                product_id: ProductId::from(row.try_get::<Uuid, _>("product_id")?),
                quantity: row.try_get("quantity")?,
                held: row.try_get::<&str, _>("status")? == "RESERVED",
                stock: row.try_get("stock")?,
            })
        })
        .collect()
}

/// The items of a product still held by RESERVED reservations: stock that
/// comes back to the shelf when those orders are cancelled.
pub async fn held_for_orders(
    executor: impl PgExecutor<'_>,
    id: ProductId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(quantity), 0)::bigint FROM reservations
         WHERE product_id = $1 AND status = 'RESERVED'",
    )
    .bind(id.as_uuid())
    .fetch_one(executor)
    .await
}

/// Stock returned to the shelf by a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub product_id: ProductId,
    pub quantity: i64,
    pub remaining: i64,
}

/// Marks every line the order still holds released and puts its items
/// back: the products first locked in id order ([`lock_stock`]), then one
/// statement; empty when nothing is held.
pub async fn release(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<Released>, sqlx::Error> {
    let held: Vec<Uuid> = sqlx::query_scalar(
        "SELECT product_id FROM reservations WHERE order_id = $1 AND status = 'RESERVED'",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    match held.len() {
        0 => return Ok(Vec::new()),
        1 => {}
        _ => {
            let ids: Vec<ProductId> = held.into_iter().map(ProductId::from).collect();
            lock_stock(&mut *conn, &ids).await?;
        }
    }
    let rows = sqlx::query(
        "WITH released AS (
             UPDATE reservations SET status = 'RELEASED', updated_at = now()
             WHERE order_id = $1 AND status = 'RESERVED'
             RETURNING product_id, quantity
         )
         UPDATE products p SET stock = p.stock + r.quantity, updated_at = now()
         FROM released r
         WHERE p.id = r.product_id
         RETURNING p.id, r.quantity, p.stock",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?;
    let mut released = rows
        .iter()
        .map(|row| {
            Ok(Released {
                product_id: ProductId::from(row.try_get::<Uuid, _>("id")?),
                quantity: row.try_get("quantity")?,
                remaining: row.try_get("stock")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    released.sort_by_key(|r| r.product_id.as_uuid());
    Ok(released)
}

fn product_from(row: &PgRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: ProductId::from(row.try_get::<Uuid, _>("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price: row.try_get("price")?,
        stock: row.try_get("stock")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
