//! `json`: a realistic API call. Generates a deterministic order-book document of `items` records
//! (seeded by `seed`) as JSON text, parses it back into typed records, keeps the active orders of
//! two or more units and aggregates them per category.
//!
//! Parameters: `items` (0..=200,000, default 1000), `seed` (any u64, default 42).
//! Result: `{"items", "seed", "bytes" (document length), "matched", "customers" (distinct among
//! matched), "units", "revenue_cents", "categories": {name: {"orders", "units", "revenue_cents",
//! "max_price_cents"}}}` — integers only.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use wow_workloads::{Error, Params, SplitMix64, Value, json, uint};

const CATEGORIES: [&str; 6] = ["books", "garden", "games", "kitchen", "music", "tools"];
const TAGS: [&str; 8] = [
    "gift",
    "sale",
    "new",
    "bulk",
    "fragile",
    "express",
    "refurbished",
    "eco",
];
const SYLLABLES: [&str; 12] = [
    "ka", "lo", "mi", "ra", "to", "ve", "xa", "zu", "ne", "pi", "so", "de",
];

#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    orders: Vec<Order>,
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    category: String,
    price_cents: u64,
    quantity: u64,
    tags: Vec<String>,
    active: bool,
    created: String,
    note: Option<String>,
}

#[derive(Default)]
struct Totals {
    orders: u64,
    units: u64,
    revenue_cents: u64,
    max_price_cents: u64,
}

fn generate(items: u64, seed: u64) -> Document {
    let mut rng = SplitMix64::new(seed);
    let customers = (items / 4).max(1);
    let orders = (0..items)
        .map(|id| {
            let customer_no = rng.below(customers);
            let mut customer = String::new();
            let mut c = customer_no;
            for _ in 0..3 {
                customer.push_str(SYLLABLES[(c % 12) as usize]);
                c /= 12;
            }
            customer.push_str(&format!("-{customer_no}"));
            let tags = (0..rng.below(4))
                .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize].to_string())
                .collect();
            let note = (rng.below(5) == 0).then(|| {
                format!(
                    "deliver \"after {}h\"\tgate {} — ünïcødé",
                    rng.below(24),
                    rng.below(100)
                )
            });
            Order {
                id: 1_000_000 + id,
                customer,
                category: CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize].to_string(),
                price_cents: 99 + rng.below(50_000),
                quantity: 1 + rng.below(9),
                tags,
                active: rng.below(10) < 8,
                created: format!(
                    "2024-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + rng.below(12),
                    1 + rng.below(28),
                    rng.below(24),
                    rng.below(60)
                ),
                note,
            }
        })
        .collect();
    Document { version: 1, orders }
}

fn run(params: &Params) -> Result<Value, Error> {
    let items = uint(params, "items", 1000, 0..=200_000)?;
    let seed = uint(params, "seed", 42, 0..=u64::MAX)?;

    let text = serde_json::to_string(&generate(items, seed))
        .map_err(|e| Error::new(format!("cannot encode the document: {e}")))?;
    println!("generated a document of {} bytes", text.len());

    let doc: Document = serde_json::from_str(&text)
        .map_err(|e| Error::new(format!("cannot parse the document: {e}")))?;

    let mut categories: BTreeMap<String, Totals> = BTreeMap::new();
    let mut customers = BTreeSet::new();
    let (mut matched, mut units, mut revenue) = (0u64, 0u64, 0u64);
    for order in doc.orders.iter().filter(|o| o.active && o.quantity >= 2) {
        let t = categories.entry(order.category.clone()).or_default();
        t.orders += 1;
        t.units += order.quantity;
        t.revenue_cents += order.price_cents * order.quantity;
        t.max_price_cents = t.max_price_cents.max(order.price_cents);
        customers.insert(order.customer.as_str());
        matched += 1;
        units += order.quantity;
        revenue += order.price_cents * order.quantity;
    }
    let categories: serde_json::Map<String, Value> = categories
        .into_iter()
        .map(|(name, t)| {
            let v = json!({
                "orders": t.orders,
                "units": t.units,
                "revenue_cents": t.revenue_cents,
                "max_price_cents": t.max_price_cents,
            });
            (name, v)
        })
        .collect();
    Ok(json!({
        "items": items,
        "seed": seed,
        "bytes": text.len(),
        "matched": matched,
        "customers": customers.len(),
        "units": units,
        "revenue_cents": revenue,
        "categories": categories,
    }))
}

fn main() {
    wow_workloads::main(run)
}
