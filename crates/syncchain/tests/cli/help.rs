use crate::support::{run, stdout};

#[tokio::test]
async fn help_lists_every_command_with_what_it_does() {
    let output = run(&["--help"], &[]).await;

    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    for (command, says) in [
        ("serve", "Run one role"),
        ("dev", "Run the whole system on this machine"),
        ("migrate", "Apply the database migrations"),
        ("admin", "Administer users"),
        (
            "infra",
            "start them in the background, see what runs, stop them",
        ),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(command))
            .unwrap_or_else(|| panic!("{command} is not listed:\n{text}"));
        assert!(line.contains(says), "{command}: {line}");
    }
}

#[tokio::test]
async fn every_command_explains_itself() {
    let cases: [(&[&str], &str); 10] = [
        (&["serve", "--help"], "gateway"),
        (&["dev", "--help"], "SYNCCHAIN_DEV_DIR"),
        (&["migrate", "--help"], "users"),
        (&["admin", "--help"], "promote"),
        (&["admin", "promote", "--help"], "ADMIN role"),
        (&["admin", "demote", "--help"], "CUSTOMER"),
        (
            &["infra", "--help"],
            "Say, for each server, whether it listens",
        ),
        (
            &["infra", "--help"],
            "Stop the servers syncchain left running",
        ),
        (
            &["infra", "--help"],
            "Make sure PostgreSQL, NATS and Redis answer",
        ),
        (&["infra", "wipe", "--help"], "delete the dev folder"),
    ];
    for (args, says) in cases {
        let output = run(args, &[]).await;
        let text = stdout(&output);
        assert!(output.status.success(), "{args:?}: {text}");
        assert!(
            text.contains(says),
            "{args:?} should mention {says}:\n{text}"
        );
    }
}
