//! The roles one `syncchain` binary runs, and where each listens: the one
//! table that `serve`, `dev`, the gateway's service URLs and the tests
//! read, so a default port is written once.
//!
//! A service role also has a URL variable, the address the others call it
//! at; its default is the role's default address over plain HTTP.

/// One listener of the binary: which role it serves and how it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleSpec {
    /// For logs and messages: `users`.
    pub name: &'static str,
    /// The variable naming the address to bind: `SYNCCHAIN_USERS_ADDR`.
    pub addr_var: &'static str,
    /// Bound when the variable is unset.
    pub default_addr: &'static str,
    /// The variable naming where the others reach the role, for the roles
    /// others call (the gRPC services).
    pub url_var: Option<&'static str>,
}

impl RoleSpec {
    /// Where the others reach the role when its URL variable is unset.
    pub fn default_url(&self) -> String {
        format!("http://{}", self.default_addr)
    }

    /// The URL variable of a role the others call; naming one of a role
    /// nobody calls is a mistake caught when compiling a constant from it.
    pub const fn called_at(&self) -> &'static str {
        match self.url_var {
            Some(var) => var,
            None => panic!("this role is not called by the others"),
        }
    }
}

/// The public GraphQL endpoint and `/healthz`.
pub const GATEWAY: RoleSpec = RoleSpec {
    name: "gateway",
    addr_var: "SYNCCHAIN_GATEWAY_ADDR",
    default_addr: "0.0.0.0:8000",
    url_var: None,
};

/// The gateway's `/metrics` and `/readyz`: loopback unless the deployment
/// says otherwise (in a pod, the address the kubelet and Prometheus reach,
/// never a public Service).
pub const GATEWAY_ADMIN: RoleSpec = RoleSpec {
    name: "gateway admin",
    addr_var: "SYNCCHAIN_GATEWAY_ADMIN_ADDR",
    default_addr: "127.0.0.1:9080",
    url_var: None,
};

pub const USERS: RoleSpec = RoleSpec {
    name: "users",
    addr_var: "SYNCCHAIN_USERS_ADDR",
    default_addr: "127.0.0.1:50051",
    url_var: Some("SYNCCHAIN_USERS_URL"),
};

pub const PRODUCTS: RoleSpec = RoleSpec {
    name: "products",
    addr_var: "SYNCCHAIN_PRODUCTS_ADDR",
    default_addr: "127.0.0.1:50052",
    url_var: Some("SYNCCHAIN_PRODUCTS_URL"),
};

pub const ORDERS: RoleSpec = RoleSpec {
    name: "orders",
    addr_var: "SYNCCHAIN_ORDERS_ADDR",
    default_addr: "127.0.0.1:50053",
    url_var: Some("SYNCCHAIN_ORDERS_URL"),
};

/// Every listener, the services in start-up order (orders calls products,
/// the gateway calls all of them).
pub const ALL: [RoleSpec; 5] = [USERS, PRODUCTS, ORDERS, GATEWAY, GATEWAY_ADMIN];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_roles_share_a_variable_or_a_default_port() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.addr_var, b.addr_var);
                assert_ne!(a.default_addr, b.default_addr);
                if a.url_var.is_some() {
                    assert_ne!(a.url_var, b.url_var);
                }
            }
        }
    }

    #[test]
    fn a_service_is_reached_where_it_listens_by_default() {
        assert_eq!(PRODUCTS.default_url(), "http://127.0.0.1:50052");
    }
}
