Feature: Compliance
  Ongoing AML monitoring can flag an investor at any time. A flagged investor is blocked at once:
  their wallet is frozen on chain (a neutral state: nothing published says why), open orders are
  cancelled, and the frontend is told the account is restricted, never why. A compliance officer
  reviews the alert: a confirmed sanctions match reclassifies SANCTIONED on chain; a dismissed
  alert, or an unblock after review, lifts the block.

  Background:
    Given an open instrument "SME3" of 1000 units at 100.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 100.00 to 50000.00 EUR
    And an active investor "Ana" classified "EU_NON_ACCREDITED"

  Scenario: An AML alert freezes the wallet neutrally and cancels open orders
    Given "Ana" holds 3 units of "SME3"
    When "Ana" orders 2 units of "SME3"
    And AML monitoring flags "Ana" for "sanctions list update"
    Then "Ana" is blocked
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And the wallet of "Ana" is frozen on the ledger
    And the order of "Ana" is "CANCELLED"
    And 997 units of "SME3" are left for sale
    And the frontend is told that "Ana" was blocked

  Scenario: A blocked investor cannot buy
    Given AML monitoring flags "Ana" for "adverse media"
    When "Ana" tries to order 1 units of "SME3"
    Then the order is refused because "restricted"

  Scenario: A blocked investor cannot withdraw
    Given "Ana" holds 1 units of "SME3"
    And the admin has repaid 50.00 EUR of interest on "SME3"
    And AML monitoring flags "Ana" for "adverse media"
    When "Ana" tries to withdraw 10.00 EUR
    Then the withdrawal is refused because "restricted"

  Scenario: A compliance officer unblocks and the previous classification is restored
    Given AML monitoring flags "Ana" for "name match"
    When a compliance officer unblocks "Ana" because "false positive"
    Then "Ana" is not blocked
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And the wallet of "Ana" is not frozen on the ledger
    And the frontend is told that "Ana" was unblocked
    When "Ana" orders 1 units of "SME3"
    And the payment gateway confirms the payment for the order of "Ana"
    Then the order of "Ana" is settled

  Scenario: Units cannot reach a sanctioned wallet even if the platform's own checks are bypassed
    Given AML monitoring flags "Ana" for "sanctions list update"
    When the ledger is asked directly to deliver 1 units of "SME3" to "Ana"
    Then the ledger refuses it as a compliance violation

  Scenario: A compliance officer confirms a sanctions match and the ledger shows SANCTIONED
    Given AML monitoring flags "Ana" for "sanctions list update"
    When a compliance officer confirms the sanctions match of "Ana" because "confirmed against the list"
    Then "Ana" is blocked
    And "Ana" is classified "SANCTIONED" in the platform and on the ledger
    And the wallet of "Ana" is frozen on the ledger

  Scenario: A compliance officer dismisses an alert and the wallet is unfrozen
    Given AML monitoring flags "Ana" for "name match"
    When a compliance officer dismisses the alert on "Ana" because "false positive"
    Then "Ana" is not blocked
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And the wallet of "Ana" is not frozen on the ledger
    And the frontend is told that "Ana" was unblocked
