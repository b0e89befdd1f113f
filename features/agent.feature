Feature: The agent's actions
  The platform's agent can move units without their holder's consent, always with a recorded reason
  and the name of whoever asked: a forced transfer between investors (a court order, an error
  correction), and the recovery of an investor's lost wallet (a new custodial wallet receives every
  unit, the lost one is frozen on the ledger). Units only ever reach investors who may hold them.

  Background:
    Given an open instrument "SME5" of 1000 units at 100.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 100.00 to 50000.00 EUR
    And an active investor "Ana" classified "EU_NON_ACCREDITED"

  Scenario: A lost wallet is recovered
    Given "Ana" holds 3 units of "SME5"
    When the admin recovers the wallet of "Ana" because "lost device"
    Then "Ana" has a new wallet
    And "Ana" holds 3 units of "SME5" in the platform and on the ledger
    And the lost wallet of "Ana" holds no units of "SME5" and is frozen on the ledger
    And the recovery of "Ana" is recorded with the reason "lost device"
    When "Ana" orders 1 units of "SME5"
    And the payment gateway confirms the payment for the order of "Ana"
    Then "Ana" holds 4 units of "SME5" in the platform and on the ledger

  Scenario: The admin forces a transfer between investors
    Given an active investor "Ben" classified "US_ACCREDITED"
    And "Ana" holds 5 units of "SME5"
    When the admin forces a transfer of 2 units of "SME5" from "Ana" to "Ben" because "court order 12/2026"
    Then "Ana" holds 3 units of "SME5" in the platform and on the ledger
    And "Ben" holds 2 units of "SME5" in the platform and on the ledger
    And the forced transfer to "Ben" is recorded with the reason "court order 12/2026"
    And the register of "SME5" agrees with the ledger

  Scenario: A forced transfer to an ineligible investor is refused
    Given an active investor "Carl" classified "US_NON_ACCREDITED"
    And "Ana" holds 5 units of "SME5"
    When the admin forces a transfer of 2 units of "SME5" from "Ana" to "Carl" because "court order"
    Then the forced transfer is refused because "not eligible"
    And "Ana" holds 5 units of "SME5" in the platform and on the ledger

  Scenario: A forced transfer to a blocked investor is refused
    Given an active investor "Ben" classified "US_ACCREDITED"
    And "Ana" holds 5 units of "SME5"
    And AML monitoring flags "Ben" for "adverse media"
    When the admin forces a transfer of 2 units of "SME5" from "Ana" to "Ben" because "court order"
    Then the forced transfer is refused because "blocked"
    And "Ana" holds 5 units of "SME5" in the platform and on the ledger
