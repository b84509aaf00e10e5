//! A bounded fuzz of the GraphQL edge: seeded, generated documents sent to
//! a running system over HTTP. Whatever the document (fragments spreading
//! each other or themselves, aliases, directives, variables of every type,
//! broken syntax, odd Unicode, huge numbers, deep nesting), the answer is
//! never a 5xx, a dropped connection or an `INTERNAL`, every error has a
//! code, the system serves afterwards, and the cost guard priced the
//! document in steps linear in its length.
//!
//! The run is reproducible: case `i` comes from seed `BASE_SEED + i`; set
//! `SYNCCHAIN_FUZZ_SEED` to explore other seeds.

use futures::{StreamExt, stream};
use serde_json::{Value, json};
use syncchain_gateway::cost::{self, Budget};

use crate::support::{ME, TestApp, unique_email};

const CASES: u64 = 256;
const BASE_SEED: u64 = 0x5eed_c0de;

/// splitmix64: small, seedable, good enough to pick grammar branches.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIELDS: &[&str] = &[
    "__typename",
    "me",
    "products",
    "productsConnection",
    "product",
    "orders",
    "ordersConnection",
    "order",
    "users",
    "usersConnection",
    "user",
    "id",
    "name",
    "price",
    "quantity",
    "email",
    "firstName",
    "status",
    "nodes",
    "pageInfo",
    "endCursor",
    "hasNextPage",
    "createdAt",
    "token",
    "orderUpdated",
    "cancelOrder",
    "placeOrder",
    "createProduct",
    "__schema",
    "types",
    "fields",
    "ofType",
    "prodcts",
    "ünïcödé",
    "a\u{200b}b",
    "x\u{202e}y",
];
const RARE_FIELDS: &[&str] = &["signin", "signIn", "registerUser"];
const TYPES: &[&str] = &[
    "Query",
    "Mutation",
    "Subscription",
    "User",
    "Product",
    "Order",
    "Nope",
    "PageInfo",
];
const VARIABLE_TYPES: &[&str] = &[
    "Int",
    "Int!",
    "Float",
    "String",
    "String!",
    "Boolean",
    "ID!",
    "[Int!]!",
    "[[String]]",
    "SigninInput",
    "RegisterInput!",
    "OrderInput",
    "OrderStatus",
    "Unknown",
];
const ODD_TEXT: &[&str] = &[
    "",
    "plain",
    "\u{0}",
    "nul\u{0}inside",
    "zero\u{200b}width",
    "\u{202e}rtl",
    "\u{feff}bom",
    "emoji 🧨",
    "\u{10ffff}",
    "quote \" and \\ backslash",
    "\\ud800",
    "💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥💥",
];
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "20",
    "100",
    "101",
    "2147483648",
    "-9223372036854775809",
    "99999999999999999999999999999",
    "1e400",
    "-0.0",
    "3.5",
    "0x10",
];

struct Document {
    text: String,
    fragments: usize,
    variables: Vec<String>,
}

impl Gen {
    fn name(&mut self) -> String {
        if self.chance(40) {
            self.pick(RARE_FIELDS).to_owned()
        } else {
            self.pick(FIELDS).to_owned()
        }
    }

    fn value(&mut self, doc: &Document, depth: usize) -> String {
        match self.below(if depth > 3 { 7 } else { 10 }) {
            0 => self.pick(NUMBERS).to_owned(),
            1 => serde_json::to_string(self.pick(ODD_TEXT)).unwrap_or_default(),
            2 => self
                .pick(&["true", "false", "null", "PENDING", "CONFIRMED"])
                .to_owned(),
            3 | 4 if !doc.variables.is_empty() => {
                format!("${}", doc.variables[self.below(doc.variables.len())])
            }
            5 => format!(
                "\"\"\"block {}\"\"\"",
                self.pick(ODD_TEXT).replace('"', "'")
            ),
            6 => "$undefined".to_owned(),
            7 => {
                let items: Vec<String> = (0..self.below(4))
                    .map(|_| self.value(doc, depth + 1))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                let fields: Vec<String> = (0..self.below(4))
                    .map(|i| format!("f{i}: {}", self.value(doc, depth + 1)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
        }
    }

    fn arguments(&mut self, doc: &Document) -> String {
        if self.chance(2) {
            return String::new();
        }
        let arguments: Vec<String> = (0..1 + self.below(3))
            .map(|_| {
                let name = self.pick(&["first", "after", "id", "input", "search", "if", "x"]);
                format!("{name}: {}", self.value(doc, 0))
            })
            .collect();
        format!("({})", arguments.join(", "))
    }

    fn directives(&mut self, doc: &Document) -> String {
        (0..self.below(3))
            .map(|_| {
                let name = self.pick(&["skip", "include", "deprecated", "unknown"]);
                format!(" @{name}(if: {})", self.value(doc, 3))
            })
            .collect()
    }

    fn selection_set(&mut self, doc: &Document, depth: usize) -> String {
        let mut items = Vec::new();
        for _ in 0..1 + self.below(4) {
            let item = match self.below(8) {
                0 if doc.fragments > 0 => {
                    format!("...F{}{}", self.below(doc.fragments), self.directives(doc))
                }
                1 if depth < 6 => format!(
                    "... on {}{} {}",
                    self.pick(TYPES),
                    self.directives(doc),
                    self.selection_set(doc, depth + 1)
                ),
                _ => {
                    let alias = if self.chance(4) {
                        format!("a{}: ", self.below(1000))
                    } else {
                        String::new()
                    };
                    let sub = if depth < 6 && self.chance(2) {
                        format!(" {}", self.selection_set(doc, depth + 1))
                    } else {
                        String::new()
                    };
                    format!(
                        "{alias}{}{}{}{sub}",
                        self.name(),
                        self.arguments(doc),
                        self.directives(doc)
                    )
                }
            };
            items.push(item);
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn document(&mut self) -> (String, Value) {
        let mut doc = Document {
            text: String::new(),
            fragments: self.below(6),
            variables: Vec::new(),
        };
        let mut variables = serde_json::Map::new();
        let mut definitions = Vec::new();
        for i in 0..self.below(5) {
            let name = format!("v{i}");
            let default = if self.chance(3) {
                format!(" = {}", self.value(&doc, 3).replace('$', ""))
            } else {
                String::new()
            };
            definitions.push(format!("${name}: {}{default}", self.pick(VARIABLE_TYPES)));
            if !self.chance(4) {
                variables.insert(name.clone(), self.json(0));
            }
            doc.variables.push(name);
        }
        for _ in 0..1 + self.below(3) {
            let kind = self.pick(&["", "query", "mutation", "subscription", "query Named"]);
            let definitions = if definitions.is_empty() || kind.is_empty() {
                String::new()
            } else {
                format!("({})", definitions.join(", "))
            };
            let set = self.selection_set(&doc, 0);
            doc.text.push_str(&format!("{kind}{definitions} {set}\n"));
        }
        for i in 0..doc.fragments {
            // Fragments may spread any fragment, themselves included.
            let set = self.selection_set(&doc, 1);
            doc.text
                .push_str(&format!("fragment F{i} on {} {set}\n", self.pick(TYPES)));
        }
        if self.chance(8) {
            let levels = 2 + self.below(40);
            let bomb: String = (1..levels)
                .map(|l| {
                    format!(
                        "fragment B{l} on Query {{ ...B{0} ...B{0} ...B{0} }}\n",
                        l - 1
                    )
                })
                .collect();
            doc.text.push_str(&format!(
                "{{ ...B{} }}\nfragment B0 on Query {{ __typename }}\n{bomb}",
                levels - 1
            ));
        }
        (self.mangle(doc.text), Value::Object(variables))
    }

    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth > 3 { 5 } else { 7 }) {
            0 => json!(self.pick(ODD_TEXT)),
            1 => match self.below(4) {
                0 => json!(i64::MAX),
                1 => json!(-1),
                2 => json!(1e308),
                _ => json!(self.below(200)),
            },
            2 => json!(self.chance(2)),
            3 => Value::Null,
            4 => json!("PENDING"),
            5 => Value::Array((0..self.below(5)).map(|_| self.json(depth + 1)).collect()),
            _ => {
                let mut object = serde_json::Map::new();
                for key in ["email", "password", "productId", "quantity", "x"] {
                    if self.chance(2) {
                        object.insert(key.to_owned(), self.json(depth + 1));
                    }
                }
                Value::Object(object)
            }
        }
    }

    /// Sometimes breaks the text: cuts it, nests it deeply, or drops or
    /// repeats a bracket.
    fn mangle(&mut self, mut text: String) -> String {
        match self.below(10) {
            0 => {
                let cut = text
                    .char_indices()
                    .map(|(at, _)| at)
                    .nth(self.below(text.chars().count().max(1)))
                    .unwrap_or(0);
                text.truncate(cut);
                text
            }
            1 => {
                let levels = 1 + self.below(300);
                format!("{{ {}id{} }}", "me { ".repeat(levels), " }".repeat(levels))
            }
            2 => format!(
                "{{ a(x: {}1{}) }}",
                "[".repeat(self.below(200)),
                "]".repeat(self.below(200))
            ),
            3 => text.replacen('}', "", 1),
            4 => format!("{text}}}}}{{{{"),
            5 => text.replace(' ', "\u{0}"),
            _ => text,
        }
    }
}

const PRODUCT_FIELDS: &[&str] = &[
    "id",
    "name",
    "price",
    "description",
    "quantity",
    "createdAt",
    "updatedAt",
    "__typename",
];

/// Documents that fit the schema, so that the fuzz also reaches the
/// resolvers: product lists through aliases, fragments (a chain, each
/// spread several times), inline fragments, `@skip`/`@include` and
/// variables, with odd values where the schema takes any string.
impl Gen {
    fn typed_document(&mut self) -> (String, Value) {
        let chain = self.below(4);
        let mut fragments = String::new();
        for level in 0..chain {
            let mut set = self.product_fields(0);
            if level + 1 < chain {
                let times = 1 + self.below(4);
                set.push_str(&format!(" ...P{}", level + 1).repeat(times));
            }
            fragments.push_str(&format!("fragment P{level} on Product {{ {set} }}\n"));
        }
        let mut items = Vec::new();
        for i in 0..1 + self.below(4) {
            let alias = if i > 0 || self.chance(3) {
                format!("l{i}: ")
            } else {
                String::new()
            };
            let page = self.page();
            let mut set = self.product_fields(chain);
            if self.chance(3) {
                set.push_str(&format!(
                    " ... on Product @include(if: $show) {{ {} }}",
                    self.product_fields(0)
                ));
            }
            items.push(match self.below(3) {
                0 => format!("{alias}productsConnection({page}) {{ nodes {{ {set} }} pageInfo {{ hasNextPage endCursor }} }}"),
                1 => format!("{alias}__typename @skip(if: $hide)"),
                _ => format!("{alias}products({page}) @skip(if: $hide) {{ {set} }}"),
            });
        }
        let body = items.join(" ");
        // Every variable declared must be used, so declare only those used.
        let declared: Vec<&str> = [
            ("$n", "$n: Int"),
            ("$show", "$show: Boolean = true"),
            ("$hide", "$hide: Boolean! = false"),
            ("$s", "$s: String"),
        ]
        .into_iter()
        .filter(|(name, _)| {
            body.contains(&format!("{name})")) || body.contains(&format!("{name},"))
        })
        .map(|(_, declaration)| declaration)
        .collect();
        let declared = if declared.is_empty() {
            String::new()
        } else {
            format!("({})", declared.join(", "))
        };
        let text = format!("query Fuzz{declared} {{ {body} }}\n{fragments}");
        let mut variables = serde_json::Map::new();
        if self.chance(2) {
            variables.insert("n".into(), json!(self.below(150)));
        }
        if self.chance(2) {
            variables.insert("s".into(), json!(self.pick(ODD_TEXT)));
        }
        if self.chance(3) {
            variables.insert("show".into(), json!(self.chance(2)));
        }
        (text, Value::Object(variables))
    }

    fn page(&mut self) -> String {
        match self.below(5) {
            0 => String::new(),
            1 => "first: $n".to_owned(),
            2 => "first: 3, search: $s".to_owned(),
            3 => format!(
                "first: {}, search: {}",
                self.below(30),
                serde_json::to_string(self.pick(ODD_TEXT)).unwrap_or_default()
            ),
            _ => format!("first: {}", 1 + self.below(10)),
        }
    }

    /// Some product fields, and the first fragment of the chain if any.
    fn product_fields(&mut self, chain: usize) -> String {
        let mut fields: Vec<String> = (0..1 + self.below(4))
            .map(|i| {
                let field = self.pick(PRODUCT_FIELDS);
                if self.chance(3) {
                    format!("f{i}: {field}")
                } else {
                    field.to_owned()
                }
            })
            .collect();
        if chain > 0 {
            fields.push("...P0".to_owned());
        }
        fields.join(" ")
    }
}

fn seed() -> u64 {
    std::env::var("SYNCCHAIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(BASE_SEED)
}

fn cases() -> Vec<(u64, String, Value)> {
    (0..CASES)
        .map(|i| {
            let seed = seed() + i;
            let mut generator = Gen(seed);
            let (query, variables) = if i % 3 == 0 {
                generator.typed_document()
            } else {
                generator.document()
            };
            (seed, query, variables)
        })
        .collect()
}

#[test]
fn the_guard_prices_every_generated_document_in_linear_steps() {
    let budget = Budget {
        max_cost: 1000,
        max_depth: 12,
    };
    for (seed, query, variables) in cases() {
        let length = (query.len() + variables.to_string().len()) as u64;
        let variables = async_graphql::Variables::from_json(variables);
        let admission = cost::admit(&query, &variables, budget);
        assert!(
            admission.steps <= 3 * length + 16,
            "seed {seed}: {} steps for {length} bytes: {query}",
            admission.steps
        );
    }
}

enum Answer {
    /// Some of it ran (`data` came back, perhaps with coded errors).
    Ran,
    /// Refused with coded errors before anything ran.
    Refused,
    Broken(String),
}

#[tokio::test]
async fn generated_documents_never_break_the_edge() {
    let app = TestApp::spawn().await;
    let app = &app;

    let answers: Vec<Answer> = stream::iter(cases())
        .map(|(seed, query, variables)| async move {
            let body = json!({ "query": query, "variables": variables });
            let response = app.http.post(&app.graphql_url).json(&body).send().await;
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    return Answer::Broken(format!("seed {seed}: no answer ({error}): {query}"));
                }
            };
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let Ok(answer) = serde_json::from_str::<Value>(&text) else {
                return Answer::Broken(format!("seed {seed}: status {status}, not JSON: {text}"));
            };
            let errors = answer["errors"].as_array().cloned().unwrap_or_default();
            let uncoded = errors.iter().any(|e| {
                !e["extensions"]["code"].is_string() || e["extensions"]["code"] == "INTERNAL"
            });
            if status >= 500 || uncoded {
                Answer::Broken(format!("seed {seed}: status {status}, {answer}: {query}"))
            } else if answer["data"].is_object() {
                Answer::Ran
            } else {
                Answer::Refused
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let failures: Vec<&str> = answers
        .iter()
        .filter_map(|answer| match answer {
            Answer::Broken(failure) => Some(failure.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let ran = answers.iter().filter(|a| matches!(a, Answer::Ran)).count();
    // The generator is no use if every document dies at the parser.
    assert!(
        ran >= answers.len() / 10,
        "only {ran} of {} generated documents ran",
        answers.len()
    );
    let (_, token) = app.customer(&unique_email("after.fuzz")).await;
    let me = app.gql(ME, json!({}), Some(&token)).await;
    assert!(me["data"]["me"]["id"].is_string(), "still serves: {me}");
}
