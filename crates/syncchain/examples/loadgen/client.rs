//! A GraphQL client of the deployment under load, and one request of each
//! scenario.

use clap::ValueEnum;
use serde_json::{Value, json};
use syncchain_testkit::predecessor;

/// Which documents the client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Requests {
    /// syncchain's own: `signIn` as a mutation, `products(first: 20)`, the
    /// token as `Bearer`.
    Native,
    /// The predecessor's clients' documents byte for byte
    /// (`testkit::predecessor`), the token in a bare `Authorization`
    /// header: what both syncchain and the system it replaces answer, so
    /// the two can be driven by the same run.
    Predecessor,
}

pub const PASSWORD: &str = "correct horse battery";

pub struct Client {
    pub url: String,
    pub http: reqwest::Client,
    pub requests: Requests,
    /// The order status a `placeOrder` must answer to count as done.
    pub order_status: String,
    pub tokens: Vec<String>,
    pub emails: Vec<String>,
    pub products: Vec<String>,
}

impl Client {
    /// Sends one document; `Err` carries the first error's
    /// `extensions.code`, or what went wrong on the way.
    pub async fn post(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.header(
                "authorization",
                match self.requests {
                    Requests::Native => format!("Bearer {token}"),
                    Requests::Predecessor => token.to_owned(),
                },
            );
        }
        let response = request.send().await.map_err(|e| format!("http: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|_| format!("http {}", status.as_u16()))?;
        if let Some(error) = body["errors"].get(0) {
            return Err(error["extensions"]["code"]
                .as_str()
                .unwrap_or("no code")
                .to_owned());
        }
        Ok(body["data"].clone())
    }

    pub async fn sign_in(&self, email: &str) -> Result<String, String> {
        let input = json!({ "input": { "email": email, "password": PASSWORD } });
        let (document, field) = match self.requests {
            Requests::Native => (
                "mutation($input: SigninInput!) { signIn(input: $input) { token } }",
                "signIn",
            ),
            Requests::Predecessor => (predecessor::SIGN_IN, "signin"),
        };
        let data = self.post(document, input, None).await?;
        data[field]["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no token".to_owned())
    }

    pub async fn register(&self, email: &str) -> Result<(), String> {
        let input = json!({ "input": {
            "email": email, "password": PASSWORD, "firstName": "Load", "lastName": "Tester",
            "location": "Here", "contactNumber": "+441234567890",
        } });
        let document = match self.requests {
            Requests::Native => {
                "mutation($input: RegisterInput!) { registerUser(input: $input) { id } }"
            }
            Requests::Predecessor => predecessor::REGISTER,
        };
        self.post(document, input, None).await.map(drop)
    }

    pub async fn create_product(&self, admin: &str, i: usize) -> Result<String, String> {
        let input = json!({ "input": {
            "name": format!("Load product {i}"), "price": 100 + i, "description": "benchmark",
            "quantity": 1_000_000_000,
        } });
        let document = match self.requests {
            Requests::Native => {
                "mutation($input: ProductInput!) { createProduct(input: $input) { id } }"
            }
            Requests::Predecessor => predecessor::CREATE_PRODUCT,
        };
        let data = self.post(document, input, Some(admin)).await?;
        data["createProduct"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no product id".to_owned())
    }

    /// The ids of the products the deployment lists first.
    pub async fn listed_products(&self) -> Result<Vec<String>, String> {
        let data = self.post(self.products_document(), json!({}), None).await?;
        Ok(data["products"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect())
    }

    fn products_document(&self) -> &'static str {
        match self.requests {
            Requests::Native => "{ products(first: 20) { id name price quantity } }",
            Requests::Predecessor => predecessor::PRODUCTS,
        }
    }

    /// One request of `scenario`; `Ok` when it did what a client wanted.
    pub async fn once(&self, scenario: &str, i: usize) -> Result<(), String> {
        let pick = |v: &[String]| v.get(i % v.len().max(1)).cloned().unwrap_or_default();
        match scenario {
            "ceiling" => self.post("{ __typename }", json!({}), None).await.map(drop),
            "product" => {
                let document = match self.requests {
                    Requests::Native => {
                        "query($id: ID!) { product(id: $id) { id name price quantity } }"
                    }
                    Requests::Predecessor => predecessor::PRODUCT,
                };
                let data = self
                    .post(document, json!({ "id": pick(&self.products) }), None)
                    .await?;
                if data["product"]["id"].is_string() {
                    Ok(())
                } else {
                    Err("product missing".into())
                }
            }
            "products" => self
                .post(self.products_document(), json!({}), None)
                .await
                .map(drop),
            "signin" => self.sign_in(&pick(&self.emails)).await.map(drop),
            "place-order" => {
                let document = match self.requests {
                    Requests::Native => {
                        "mutation($input: OrderInput!) { placeOrder(input: $input) { id status } }"
                    }
                    Requests::Predecessor => predecessor::PLACE_ORDER,
                };
                let input =
                    json!({ "input": { "productId": pick(&self.products), "quantity": 1 } });
                let data = self
                    .post(document, input, Some(&pick(&self.tokens)))
                    .await?;
                match data["placeOrder"]["status"].as_str() {
                    Some(status) if status == self.order_status => Ok(()),
                    other => Err(format!("order {}", other.unwrap_or("?"))),
                }
            }
            // The 611-byte document of a million fields: a success is a
            // refusal (`BAD_USER_INPUT`) before the engine expands it.
            "fragment-bomb" => match self.post(&fragment_bomb(11), json!({}), None).await {
                Err(code) if code == "BAD_USER_INPUT" => Ok(()),
                Err(code) => Err(code),
                Ok(_) => Err("bomb admitted".into()),
            },
            // Mostly reads, some orders, a few sign-ins: a shop's day.
            "mix" => match i % 20 {
                0..=9 => Box::pin(self.once("product", i)).await,
                10..=15 => Box::pin(self.once("products", i)).await,
                16..=18 => Box::pin(self.once("place-order", i)).await,
                _ => Box::pin(self.once("signin", i)).await,
            },
            other => Err(format!("unknown scenario {other}")),
        }
    }
}

/// F1 selects a field; each next fragment spreads the one before four
/// times, so `levels` levels expand to 4^(levels-1) fields.
fn fragment_bomb(levels: usize) -> String {
    let mut query = format!("query {{ ...F{levels} }}\nfragment F1 on Query {{ __typename }}\n");
    for level in 2..=levels {
        let below = level - 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{below} ...F{below} ...F{below} ...F{below} }}\n"
        ));
    }
    query
}
