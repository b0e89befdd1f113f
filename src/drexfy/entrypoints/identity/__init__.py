"""Who may act: operators (people, with argon2id passwords and TOTP), API tokens (listed and
revocable), shared by the HTTP service and the command line. Stored as `AccessRecords`."""
