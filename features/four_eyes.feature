Feature: Four-eyes approvals
  Sensitive actions need a second, different person's approval before they take effect. An unblock
  asked for by one compliance officer stays a pending request until another officer approves it
  (or rejects it, with a reason); the officer who asked can never approve their own request, and an
  approved request takes effect exactly once.

  Background:
    Given an open instrument "SME5" of 1000 units at 100.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 100.00 to 50000.00 EUR
    And an active investor "Ana" classified "EU_NON_ACCREDITED"
    And AML monitoring flags "Ana" for "name match"

  Scenario: A compliance officer unblocks with a second officer's approval
    When compliance officer "Olga" asks to unblock "Ana" because "false positive"
    Then "Ana" is blocked
    And the unblock of "Ana" waits for a second officer
    When compliance officer "Olga" tries to approve the unblock of "Ana"
    Then the decision is refused
    And "Ana" is blocked
    When compliance officer "Pedro" approves the unblock of "Ana"
    Then "Ana" is not blocked
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And the wallet of "Ana" is not frozen on the ledger
    When compliance officer "Rita" tries to approve the unblock of "Ana"
    Then the decision is refused
    And "Ana" was unblocked exactly once

  Scenario: A rejected unblock leaves the investor blocked
    When compliance officer "Olga" asks to unblock "Ana" because "false positive"
    And compliance officer "Pedro" rejects the unblock of "Ana"
    Then "Ana" is blocked
    And the wallet of "Ana" is frozen on the ledger
    When compliance officer "Rita" tries to approve the unblock of "Ana"
    Then the decision is refused
