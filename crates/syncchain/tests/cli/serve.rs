use crate::support::{run, stderr};

const PRODUCTION: (&str, &str) = ("SYNCCHAIN_ENV", "production");

/// The whole error is one line on stderr, and the exit code is 1.
fn one_line_failure(output: &std::process::Output) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    text
}

#[tokio::test]
async fn serving_in_production_without_a_jwt_secret_fails_naming_the_variable() {
    for role in ["users", "products", "orders", "gateway", "all"] {
        let output = run(&["serve", role], &[PRODUCTION]).await;

        let text = one_line_failure(&output);
        assert!(text.contains("SYNCCHAIN_JWT_SECRET"), "{role}: {text}");
        assert!(text.contains("32 bytes"), "{role}: {text}");
    }
}

#[tokio::test]
async fn a_jwt_secret_shorter_than_32_bytes_is_refused() {
    let output = run(
        &["serve", "users"],
        &[PRODUCTION, ("SYNCCHAIN_JWT_SECRET", "too short")],
    )
    .await;

    let text = one_line_failure(&output);
    assert!(text.contains("SYNCCHAIN_JWT_SECRET"), "{text}");
}

#[tokio::test]
async fn a_bad_setting_is_reported_with_its_variable() {
    let output = run(&["serve", "users"], &[("SYNCCHAIN_ENV", "staging")]).await;

    let text = one_line_failure(&output);
    assert!(text.contains("SYNCCHAIN_ENV"), "{text}");
}

#[tokio::test]
async fn an_unknown_role_is_refused_with_the_choices() {
    let output = run(&["serve", "billing"], &[]).await;

    assert!(!output.status.success());
    assert!(stderr(&output).contains("gateway"), "{}", stderr(&output));
}
