//! The cost guard: prices a GraphQL document before anything else walks it.
//!
//! async-graphql's own checks (recursion depth, directive count, depth,
//! complexity, validation) follow every fragment spread anew, so a document
//! whose fragments spread each other four times over, eleven levels deep,
//! makes them visit millions of fields from a few hundred bytes. Here each
//! fragment is priced once and its price reused at every spread, so pricing
//! takes steps linear in the document (and the variables), whatever its
//! shape, and the engine only ever sees documents whose expanded size is
//! bounded.
//!
//! The price of a document is the size it has once its fragments are
//! expanded: one per field, fragment spread, inline fragment, directive,
//! argument, argument value (every list item and object field counts, and a
//! variable counts the size of its value), operation and variable
//! definition. A list field costs its page size (`first`, 20 by default, at
//! most 100) times its sub-selection. The depth (fields nested in fields,
//! through fragments) is computed the same memoised way. Fragment cycles are
//! refused, never followed, and so is text nested more deeply than the
//! parser can take safely.
//!
//! Password-checking fields are counted over the expanded document too: one
//! request may hold one of them at most, so one request cannot ask for a
//! hundred Argon2 hashes.

use std::collections::HashMap;

use async_graphql::{
    Name, Positioned, ServerError, Variables,
    parser::{
        self,
        types::{Directive, ExecutableDocument, Field, Selection, SelectionSet},
    },
};
use async_graphql_value::{ConstValue, Value};

/// Brackets and fragment spreads nested deeper than this are refused before
/// parsing: the parser and the pricing both recurse on nesting.
pub const MAX_NESTING: usize = 64;

/// The fields that return a page of a list, priced by their page size.
/// (`Order.lines` is not one: the lines come with their order, and their
/// products in one batched call per response.)
const LIST_FIELDS: [&str; 6] = [
    "users",
    "usersConnection",
    "products",
    "productsConnection",
    "orders",
    "ordersConnection",
];
const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 100;

/// Fields that hash a password: costly on purpose, so one per request.
const HASHING_FIELDS: [&str; 3] = ["signin", "signIn", "registerUser"];

/// What one request may cost.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_cost: u64,
    pub max_depth: usize,
}

/// The price of a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    pub cost: u64,
    pub depth: usize,
    /// Password-hashing fields, counted after expanding fragments.
    pub hashing: u64,
}

/// Why a document is refused before the engine sees it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the query nests brackets or fragments more than {MAX_NESTING} levels deep")]
    TooNested,
    #[error("{0}")]
    Syntax(parser::Error),
    #[error("the fragment `{0}` spreads itself, directly or through other fragments")]
    FragmentCycle(String),
    #[error(
        "the query is too large: it costs {cost} (fields after expanding fragments, list fields times their page size, arguments and directives), over the limit of {limit}"
    )]
    TooExpensive { cost: u64, limit: u64 },
    #[error(
        "the query is too deep: {depth} levels of fields after expanding fragments, over the limit of {limit}"
    )]
    TooDeep { depth: usize, limit: usize },
    #[error(
        "a request may hold at most one password-checking field (signin, signIn, registerUser); this one holds {count}"
    )]
    TooManyHashing { count: u64 },
}

impl Refusal {
    /// The refusal as the client sees it: `BAD_USER_INPUT`.
    pub fn into_server_error(self) -> ServerError {
        let mut error = match self {
            Self::Syntax(error) => ServerError::from(error),
            other => ServerError::new(other.to_string(), None),
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
        error
    }
}

/// The guard's verdict on a request, with the work it took.
#[derive(Debug)]
pub struct Admission {
    /// Units of work the guard did: bytes scanned plus nodes priced.
    pub steps: u64,
    pub outcome: Result<(ExecutableDocument, Price), Refusal>,
}

/// Scans, parses and prices `query`, and admits it if it fits `budget`.
pub fn admit(query: &str, variables: &Variables, budget: Budget) -> Admission {
    let mut steps = 0;
    let outcome = (|| {
        if nesting(query, &mut steps) > MAX_NESTING {
            return Err(Refusal::TooNested);
        }
        let document = parser::parse_query(query).map_err(Refusal::Syntax)?;
        let price = price(&document, variables, &mut steps)?;
        if price.cost > budget.max_cost {
            return Err(Refusal::TooExpensive {
                cost: price.cost,
                limit: budget.max_cost,
            });
        }
        if price.depth > budget.max_depth {
            return Err(Refusal::TooDeep {
                depth: price.depth,
                limit: budget.max_depth,
            });
        }
        if price.hashing > 1 {
            return Err(Refusal::TooManyHashing {
                count: price.hashing,
            });
        }
        Ok((document, price))
    })();
    Admission { steps, outcome }
}

/// The deepest nesting of brackets in the text, strings and comments aside.
fn nesting(query: &str, steps: &mut u64) -> usize {
    let text = query.as_bytes();
    let (mut at, mut depth, mut deepest) = (0, 0usize, 0);
    while at < text.len() {
        *steps += 1;
        match text[at] {
            b'#' => {
                while at < text.len() && text[at] != b'\n' && text[at] != b'\r' {
                    at += 1;
                }
            }
            b'"' if text[at..].starts_with(b"\"\"\"") => {
                at += 3;
                while at < text.len() && !text[at..].starts_with(b"\"\"\"") {
                    at += if text[at..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                at += 2;
            }
            b'"' => {
                at += 1;
                while at < text.len() && !matches!(text[at], b'"' | b'\n' | b'\r') {
                    at += if text[at] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    deepest
}

/// Prices a parsed document; `steps` counts the nodes visited.
pub fn price(
    document: &ExecutableDocument,
    variables: &Variables,
    steps: &mut u64,
) -> Result<Price, Refusal> {
    let mut pricer = Pricer {
        document,
        variables,
        defaults: HashMap::new(),
        fragments: HashMap::new(),
        variable_sizes: HashMap::new(),
        active: 0,
        steps: 0,
    };
    let result = pricer.document();
    *steps += pricer.steps;
    result
}

#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    cost: u64,
    depth: usize,
    hashing: u64,
}

impl Summary {
    fn cost(cost: u64) -> Self {
        Self {
            cost,
            ..Self::default()
        }
    }

    fn and(self, other: Self) -> Self {
        Self {
            cost: self.cost.saturating_add(other.cost),
            depth: self.depth.max(other.depth),
            hashing: self.hashing.saturating_add(other.hashing),
        }
    }
}

enum Memo {
    /// Being priced: meeting it again is a cycle.
    Pricing,
    Priced(Summary),
}

struct Pricer<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Default values of the operations' variables, by name.
    defaults: HashMap<&'a str, &'a ConstValue>,
    fragments: HashMap<&'a str, Memo>,
    variable_sizes: HashMap<&'a str, u64>,
    /// Selection sets and fragments being priced, one inside the other.
    active: usize,
    steps: u64,
}

impl<'a> Pricer<'a> {
    fn document(&mut self) -> Result<Price, Refusal> {
        for (_, operation) in self.document.operations.iter() {
            for definition in &operation.node.variable_definitions {
                if let Some(default) = &definition.node.default_value {
                    self.defaults
                        .entry(definition.node.name.node.as_str())
                        .or_insert(&default.node);
                }
            }
        }
        let mut total = Summary::default();
        for (_, operation) in self.document.operations.iter() {
            let operation = &operation.node;
            let mut own = 1 + self.directives(&operation.directives);
            for definition in &operation.variable_definitions {
                self.steps += 1;
                own += 1 + self.directives(&definition.node.directives);
                if let Some(default) = &definition.node.default_value {
                    own += self.const_size(&default.node);
                }
            }
            let selections = self.selection_set(&operation.selection_set.node)?;
            total = total.and(Summary::cost(own)).and(selections);
        }
        // Fragments no operation spreads are still walked by validation.
        for name in self.document.fragments.keys() {
            if !self.fragments.contains_key(name.as_str()) {
                total = total.and(self.fragment(name)?);
            }
        }
        Ok(Price {
            cost: total.cost,
            depth: total.depth,
            hashing: total.hashing,
        })
    }

    fn enter(&mut self) -> Result<(), Refusal> {
        self.active += 1;
        if self.active > 2 * MAX_NESTING {
            return Err(Refusal::TooNested);
        }
        Ok(())
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Summary, Refusal> {
        self.enter()?;
        let mut total = Summary::default();
        for selection in &set.items {
            self.steps += 1;
            let summary = match &selection.node {
                Selection::Field(field) => self.field(&field.node)?,
                Selection::FragmentSpread(spread) => {
                    let own = 1 + self.directives(&spread.node.directives);
                    Summary::cost(own).and(self.fragment(&spread.node.fragment_name.node)?)
                }
                Selection::InlineFragment(inline) => {
                    let own = 1 + self.directives(&inline.node.directives);
                    Summary::cost(own).and(self.selection_set(&inline.node.selection_set.node)?)
                }
            };
            total = total.and(summary);
        }
        self.active -= 1;
        Ok(total)
    }

    fn field(&mut self, field: &'a Field) -> Result<Summary, Refusal> {
        let own = 1 + self.arguments(&field.arguments) + self.directives(&field.directives);
        let inner = if field.selection_set.node.items.is_empty() {
            Summary::default()
        } else {
            self.selection_set(&field.selection_set.node)?
        };
        let name = field.name.node.as_str();
        let times = if LIST_FIELDS.contains(&name) {
            self.page_size(field)
        } else {
            1
        };
        Ok(Summary {
            cost: own.saturating_add(times.saturating_mul(inner.cost)),
            depth: inner.depth + 1,
            hashing: inner
                .hashing
                .saturating_add(u64::from(HASHING_FIELDS.contains(&name))),
        })
    }

    /// A fragment's price, computed at its first spread and reused after.
    fn fragment(&mut self, name: &'a Name) -> Result<Summary, Refusal> {
        match self.fragments.get(name.as_str()) {
            Some(Memo::Priced(summary)) => return Ok(*summary),
            Some(Memo::Pricing) => return Err(Refusal::FragmentCycle(name.to_string())),
            None => {}
        }
        // An unknown fragment costs its spread only; validation refuses it.
        let Some(definition) = self.document.fragments.get(name) else {
            return Ok(Summary::default());
        };
        self.fragments.insert(name.as_str(), Memo::Pricing);
        self.enter()?;
        let own = self.directives(&definition.node.directives);
        let summary =
            Summary::cost(own).and(self.selection_set(&definition.node.selection_set.node)?);
        self.active -= 1;
        self.fragments.insert(name.as_str(), Memo::Priced(summary));
        Ok(summary)
    }

    fn directives(&mut self, directives: &'a [Positioned<Directive>]) -> u64 {
        directives.iter().fold(0, |total, directive| {
            self.steps += 1;
            let cost = 1 + self.arguments(&directive.node.arguments);
            total.saturating_add(cost)
        })
    }

    fn arguments(&mut self, arguments: &'a [(Positioned<Name>, Positioned<Value>)]) -> u64 {
        arguments.iter().fold(0, |total, (_, value)| {
            let cost = 1 + self.value_size(&value.node);
            total.saturating_add(cost)
        })
    }

    /// One per node of the value; a variable counts the size of its value.
    fn value_size(&mut self, value: &'a Value) -> u64 {
        let mut size = 0u64;
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            self.steps += 1;
            size = size.saturating_add(1);
            match value {
                Value::Variable(name) => {
                    size = size.saturating_add(self.variable_size(name));
                }
                Value::List(items) => pending.extend(items),
                Value::Object(fields) => pending.extend(fields.values()),
                _ => {}
            }
        }
        size
    }

    fn variable_size(&mut self, name: &'a Name) -> u64 {
        if let Some(size) = self.variable_sizes.get(name.as_str()) {
            return *size;
        }
        let size = match self.variable(name) {
            Some(value) => self.const_size(value),
            None => 0,
        };
        self.variable_sizes.insert(name.as_str(), size);
        size
    }

    fn variable(&self, name: &str) -> Option<&'a ConstValue> {
        self.variables
            .get(name)
            .or_else(|| self.defaults.get(name).copied())
    }

    fn const_size(&mut self, value: &'a ConstValue) -> u64 {
        let mut size = 0u64;
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            self.steps += 1;
            size = size.saturating_add(1);
            match value {
                ConstValue::List(items) => pending.extend(items),
                ConstValue::Object(fields) => pending.extend(fields.values()),
                _ => {}
            }
        }
        size
    }

    /// The page a list field asks for: its `first`, else the default.
    fn page_size(&self, field: &Field) -> u64 {
        let first = field
            .arguments
            .iter()
            .find(|(name, _)| name.node.as_str() == "first")
            .and_then(|(_, value)| match &value.node {
                Value::Number(n) => n.as_i64(),
                Value::Variable(name) => match self.variable(name) {
                    Some(ConstValue::Number(n)) => n.as_i64(),
                    _ => None,
                },
                _ => None,
            });
        match first {
            Some(n) => u64::try_from(n).unwrap_or(1).clamp(1, MAX_PAGE),
            None => DEFAULT_PAGE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        max_cost: 1000,
        max_depth: 12,
    };

    /// F1 selects a field; each next fragment spreads the one before four
    /// times: `levels` levels expand to 4^(levels-1) fields.
    pub(crate) fn fragment_bomb(levels: usize) -> String {
        let mut query = String::from("{ ...F1 }\nfragment F1 on Query { __typename }\n");
        for level in 2..=levels {
            let below = level - 1;
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{below} ...F{below} ...F{below} ...F{below} }}\n"
            ));
        }
        query.replacen("{ ...F1 }", &format!("{{ ...F{levels} }}"), 1)
    }

    fn admitted(query: &str) -> Result<Price, Refusal> {
        admit(query, &Variables::default(), BUDGET)
            .outcome
            .map(|(_, price)| price)
    }

    fn steps(query: &str) -> u64 {
        admit(query, &Variables::default(), BUDGET).steps
    }

    #[test]
    fn fragment_bombs_are_refused_in_steps_linear_in_their_length() {
        for levels in [11, 30] {
            let bomb = fragment_bomb(levels);
            let refusal = admitted(&bomb).expect_err("a bomb is refused");
            assert!(
                matches!(refusal, Refusal::TooExpensive { .. }),
                "{levels} levels: {refusal}"
            );
            let steps = steps(&bomb);
            assert!(
                steps <= 3 * bomb.len() as u64,
                "{levels} levels: {steps} steps for {} bytes",
                bomb.len()
            );
        }
    }

    #[test]
    fn the_bomb_of_the_finding_costs_its_expanded_size() {
        let bomb = fragment_bomb(11);
        let mut steps = 0;
        let document = parser::parse_query(&bomb).unwrap();
        let price = price(&document, &Variables::default(), &mut steps).unwrap();
        // 4^10 fields, plus the spreads that lead to them.
        assert!(price.cost >= 4u64.pow(10), "{price:?}");
    }

    #[test]
    fn everyday_queries_fit_the_budget() {
        for query in [
            "{ orders { id userId productId quantity totalAmount status createdAt user { id firstName email } product { id name price } } }",
            "{ products(first: 20) { id name price quantity } }",
            "query($after: String) { ordersConnection(first: 100, after: $after) { nodes { id productId quantity status } pageInfo { endCursor hasNextPage } } }",
            "{ orders(first: 50) { id user { id email } product { id name } } }",
            "mutation SignIn($input: SigninInput!) { signIn(input: $input) { token expiresAt user { id email role } } }",
            "query { ...Me } fragment Me on Query { me { ...Who } } fragment Who on User { id email }",
        ] {
            admitted(query).unwrap_or_else(|refusal| panic!("{query}: {refusal}"));
        }
    }

    #[test]
    fn lists_cost_their_page_size() {
        let aliases: String = (0..30)
            .map(|i| format!("p{i}: products(first: 100) {{ id }} "))
            .collect();
        let refusal = admitted(&format!("{{ {aliases} }}")).unwrap_err();
        assert!(
            matches!(refusal, Refusal::TooExpensive { cost, .. } if cost >= 3000),
            "{refusal}"
        );

        let nested = admitted("{ orders(first: 50) { product { id } user { id } } }").unwrap();
        assert!(nested.cost >= 50 * 4, "{nested:?}");

        let variables = Variables::from_json(serde_json::json!({ "n": 100 }));
        let priced = |query: &str| {
            admit(query, &variables, BUDGET)
                .outcome
                .map(|(_, price)| price.cost)
                .unwrap()
        };
        let by_variable = priced("query($n: Int) { products(first: $n) { id } }");
        let by_default = priced("query($m: Int = 5) { products(first: $m) { id } }");
        let unset = priced("{ products { id } }");
        assert!(by_variable >= 100, "{by_variable}");
        assert!(by_default < 20, "{by_default}");
        assert!((20..30).contains(&unset), "{unset}");
    }

    #[test]
    fn fragment_cycles_are_refused_not_followed() {
        for query in [
            "{ ...A } fragment A on Query { ...A }",
            "{ ...A } fragment A on Query { me { ...B } } fragment B on User { id ...A }",
            "{ __typename } fragment A on Query { ...B ...B } fragment B on Query { ...A }",
        ] {
            let refusal = admitted(query).unwrap_err();
            assert!(
                matches!(refusal, Refusal::FragmentCycle(_)),
                "{query}: {refusal}"
            );
        }
    }

    #[test]
    fn one_password_hashing_field_per_request() {
        admitted("{ signin(input: { email: \"a@b.c\", password: \"p\" }) { token } }").unwrap();
        for query in [
            "{ a: signin(input: {email: \"a\", password: \"b\"}) { token } b: signin(input: {email: \"a\", password: \"b\"}) { token } }",
            "mutation { ...R ...R } fragment R on Mutation { registerUser(input: $i) { id } }",
            "mutation { signIn(input: $i) { token } ... on Mutation { registerUser(input: $i) { id } } }",
        ] {
            let refusal = admitted(query).unwrap_err();
            assert!(
                matches!(refusal, Refusal::TooManyHashing { count: 2 }),
                "{query}: {refusal}"
            );
        }
    }

    #[test]
    fn depth_counts_fields_through_fragments() {
        let chain: String = (1..=13)
            .map(|i| format!("fragment D{i} on User {{ me {{ ...D{} }} }}\n", i + 1))
            .collect();
        let query = format!("{{ ...D1 }}\n{chain}fragment D14 on User {{ id }}");
        let refusal = admitted(&query).unwrap_err();
        assert!(
            matches!(refusal, Refusal::TooDeep { depth: 14, .. }),
            "{refusal}"
        );
    }

    #[test]
    fn nesting_beyond_the_parser_is_refused_before_parsing() {
        let deep = format!("{{ {}id{} }}", "a { ".repeat(100_000), " }".repeat(100_000));
        assert!(matches!(admitted(&deep), Err(Refusal::TooNested)));
        let list = format!(
            "{{ a(x: {}1{}) }}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(admitted(&list), Err(Refusal::TooNested)));
        // Brackets inside strings and comments are text.
        let quoted = format!(
            "{{ a(x: \"{}\", y: \"\"\"{}\"\"\") # {}\n }}",
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500)
        );
        assert!(!matches!(admitted(&quoted), Err(Refusal::TooNested)));
    }

    #[test]
    fn a_long_chain_of_fragments_is_refused_not_overflowing_the_stack() {
        let chain: String = (1..5_000)
            .map(|i| format!("fragment C{i} on Query {{ ...C{} }}\n", i + 1))
            .collect();
        let query = format!("{{ ...C1 }}\n{chain}fragment C5000 on Query {{ __typename }}");
        assert!(matches!(admitted(&query), Err(Refusal::TooNested)));
    }

    #[test]
    fn refusals_are_bad_user_input() {
        let error = admitted("{ a").unwrap_err().into_server_error();
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("BAD_USER_INPUT")));
    }
}
