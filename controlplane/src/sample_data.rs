//! Generates the quick-start sales database (SQLite): customers, products, orders, order items.
//! Deterministic (fixed seed) so the checked-in file and the charts never change by accident.
use std::{path::Path, str::FromStr};

use chrono::{Duration, NaiveDate};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sqlx::{sqlite::SqliteConnectOptions, Connection, SqliteConnection};

const COUNTRIES: &[&str] = &["DE", "FR", "GB", "US", "ES", "IT", "NL", "SE", "PL", "JP"];
const SEGMENTS: &[&str] = &["consumer", "small-business", "enterprise"];
const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloe", "David", "Eva", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Kara",
    "Liam", "Mia", "Noah", "Olga", "Paul",
];
const LAST: &[&str] = &[
    "Schmidt", "Martin", "Smith", "Garcia", "Rossi", "de Vries", "Larsson", "Nowak", "Sato",
    "Brown", "Dubois", "Fischer",
];
const CATEGORIES: &[(&str, &[&str])] = &[
    ("Laptops", &["Air 13", "Pro 14", "Pro 16", "Ultra 15"]),
    ("Phones", &["Mini", "Standard", "Max", "Fold"]),
    ("Audio", &["Earbuds", "Headphones", "Speaker", "Soundbar"]),
    (
        "Accessories",
        &[
            "Charger", "Cable", "Case", "Stand", "Hub", "Mouse", "Keyboard",
        ],
    ),
    (
        "Displays",
        &[
            "24\" Monitor",
            "27\" Monitor",
            "32\" Monitor",
            "Portable Display",
        ],
    ),
];

pub struct Summary {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub items: usize,
}

pub async fn generate(path: &Path) -> anyhow::Result<Summary> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let opts = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let mut rng = StdRng::seed_from_u64(20261124);
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
            country TEXT NOT NULL, segment TEXT NOT NULL, created_at TEXT NOT NULL);
         CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
            price REAL NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
            order_date TEXT NOT NULL, status TEXT NOT NULL);
         CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
            product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
            unit_price REAL NOT NULL);
         CREATE INDEX orders_customer ON orders(customer_id);
         CREATE INDEX items_order ON order_items(order_id);",
    )
    .execute(&mut *tx)
    .await?;
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date");
    let customers = 400;
    for id in 1..=customers {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let created = start + Duration::days(rng.gen_range(0..300));
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id as i64)
            .bind(format!("{first} {last}"))
            .bind(format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase().replace(' ', ""),
                id
            ))
            .bind(COUNTRIES[rng.gen_range(0..COUNTRIES.len())])
            .bind(SEGMENTS[rng.gen_range(0..SEGMENTS.len())])
            .bind(created.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let mut prices = Vec::new();
    let mut pid = 0i64;
    for (cat, names) in CATEGORIES {
        let base: f64 = match *cat {
            "Laptops" => 1100.0,
            "Phones" => 700.0,
            "Displays" => 300.0,
            "Audio" => 150.0,
            _ => 30.0,
        };
        for n in *names {
            pid += 1;
            let price = (base * rng.gen_range(0.6..1.8) * 100.0).round() / 100.0;
            prices.push(price);
            sqlx::query("INSERT INTO products VALUES (?, ?, ?, ?)")
                .bind(pid)
                .bind(format!("{cat} {n}"))
                .bind(*cat)
                .bind(price)
                .execute(&mut *tx)
                .await?;
        }
    }
    let orders = 4000;
    let mut items = 0usize;
    for oid in 1..=orders {
        // Later days are busier, so revenue trends upward over the two years.
        let day = (rng.gen_range(0.0f64..1.0).sqrt() * 700.0) as i64;
        let status = match rng.gen_range(0..100) {
            0..=84 => "completed",
            85..=92 => "shipped",
            93..=96 => "cancelled",
            _ => "returned",
        };
        sqlx::query("INSERT INTO orders VALUES (?, ?, ?, ?)")
            .bind(oid as i64)
            .bind(rng.gen_range(1..=customers) as i64)
            .bind((start + Duration::days(day)).to_string())
            .bind(status)
            .execute(&mut *tx)
            .await?;
        for _ in 0..rng.gen_range(1..=4) {
            items += 1;
            let p = rng.gen_range(0..prices.len());
            sqlx::query("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)")
                .bind(items as i64)
                .bind(oid as i64)
                .bind(p as i64 + 1)
                .bind(rng.gen_range(1..=3) as i64)
                .bind(prices[p])
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    sqlx::raw_sql("VACUUM").execute(&mut conn).await?;
    conn.close().await?;
    Ok(Summary {
        customers,
        products: prices.len(),
        orders,
        items,
    })
}
