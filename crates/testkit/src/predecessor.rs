//! The predecessor's clients' requests, byte for byte: variables declared
//! with its input type names, sent with the token in a bare
//! `Authorization` header. Kept here, apart from any one test, so whatever
//! drives a deployment as those clients do (the compatibility test today)
//! sends exactly these.

pub const REGISTER: &str = "mutation Register($input: RegisterInput!) { registerUser(input: $input) { id firstName lastName email location contactNumber createdAt } }";
pub const SIGN_IN: &str = "query SignIn($input: SigninInput!) { signin(input: $input) { token } }";
pub const USERS: &str =
    "{ users { id firstName lastName email location contactNumber createdAt } }";
pub const USER: &str = "query($id: ID!) { user(id: $id) { id email firstName lastName location contactNumber createdAt } }";
pub const CREATE_PRODUCT: &str = "mutation($input: ProductInput!) { createProduct(input: $input) { id name price description quantity createdAt updatedAt } }";
pub const PRODUCTS: &str =
    "{ products { id name price description quantity createdAt updatedAt } }";
pub const PRODUCT: &str =
    "query($id: ID!) { product(id: $id) { id name price description quantity } }";
pub const PLACE_ORDER: &str = "mutation($input: OrderInput!) { placeOrder(input: $input) { id userId productId quantity totalAmount status createdAt user { id email } product { id name price quantity } } }";
pub const ORDERS: &str = "{ orders { id userId productId quantity totalAmount status createdAt user { id firstName email } product { id name price } } }";
pub const ORDER: &str =
    "query($id: ID!) { order(id: $id) { id status totalAmount user { email } product { name } } }";
