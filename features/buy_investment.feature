Feature: Buying an investment
  An eligible investor orders units of an instrument; the units are reserved, the investor pays
  through the gateway, and the paid order settles on the ledger: stablecoin minted for the fiat
  received, paid to the issuer, units delivered to the investor.

  Background:
    Given an open instrument "SME1" of 1000 units at 100.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 100.00 to 50000.00 EUR
    And "EU_NON_ACCREDITED" investors are capped at 1000.00 EUR in "SME1"

  Scenario: An eligible investor buys and the order settles
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And the payment gateway confirms the payment for the order of "Ana"
    Then the order of "Ana" is settled
    And "Ana" holds 5 units of "SME1" in the platform and on the ledger
    And "Ana" has 0.00 EUR of stablecoin
    And 995 units of "SME1" are left for sale
    And an auditor finds the holders of "SME1" on the ledger equal to the platform's books

  Scenario: An ineligible classification is refused
    Given an active investor "Eve" classified "EU_ACCREDITED"
    When "Eve" tries to order 5 units of "SME1"
    Then the order is refused because "not eligible"
    And 1000 units of "SME1" are left for sale

  Scenario: A ticket above the per-classification cap is refused
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" tries to order 11 units of "SME1"
    Then the order is refused because "at most 1000.00 EUR"

  Scenario: The sale cannot be oversold
    Given an active investor "Bob" classified "US_ACCREDITED"
    And "Bob" holds 400 units of "SME1"
    And an active investor "Bea" classified "US_ACCREDITED"
    And "Bea" holds 400 units of "SME1"
    And an active investor "Ben" classified "US_ACCREDITED"
    When "Ben" tries to order 201 units of "SME1"
    Then the order is refused because "only 200 units"
    When "Ben" orders 200 units of "SME1"
    Then 0 units of "SME1" are left for sale

  Scenario: A duplicate payment notification settles only once
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And the payment gateway confirms the payment for the order of "Ana"
    And the payment gateway confirms the payment for the order of "Ana" again
    Then the order of "Ana" is settled
    And "Ana" holds 5 units of "SME1" in the platform and on the ledger
    And an auditor finds the holders of "SME1" on the ledger equal to the platform's books
    And the order of "Ana" was settled on the ledger exactly once

  Scenario: An investor blocked between order and payment is not settled and is owed a refund
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And AML monitoring flags "Ana" for "adverse media"
    And the payment gateway confirms the payment for the order of "Ana"
    Then the order of "Ana" is "REFUND_DUE"
    And "Ana" holds 0 units of "SME1" in the platform and on the ledger
    And 1000 units of "SME1" are left for sale

  Scenario: An unpaid reservation expires and frees its units
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And the reservation time passes
    Then the order of "Ana" is "EXPIRED"
    And 1000 units of "SME1" are left for sale

  Scenario: An investor cancels an unpaid order, and a payment that still arrives goes back
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And "Ana" cancels the order
    Then the order of "Ana" is "CANCELLED"
    And 1000 units of "SME1" are left for sale
    When the payment gateway confirms the payment for the order of "Ana"
    Then the order of "Ana" is "REFUND_DUE"
    And "Ana" holds 0 units of "SME1" in the platform and on the ledger
    And 1000 units of "SME1" are left for sale

  Scenario: Money owed back is refunded through the gateway, and a failed refund is retried
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And "Ana" cancels the order
    And the payment gateway confirms the payment for the order of "Ana"
    Then the order of "Ana" is "REFUND_DUE"
    And a refund of the order of "Ana" is on its way
    When the payment gateway reports that the refund for the order of "Ana" failed for "expired_or_canceled_card"
    Then the order of "Ana" is "REFUND_DUE"
    And operators see that the refund for the order of "Ana" failed for "expired_or_canceled_card"
    When the refund is retried after its back-off
    Then a refund of the order of "Ana" is on its way
    When the payment gateway reports that the refund for the order of "Ana" succeeded
    Then the order of "Ana" is "REFUNDED"

  Scenario: A settlement interrupted by a crash resumes without delivering twice
    Given an active investor "Ana" classified "EU_NON_ACCREDITED"
    When "Ana" orders 5 units of "SME1"
    And the platform crashes right after the ledger settles the order of "Ana"
    And the payment gateway confirms the payment for the order of "Ana" again
    Then the order of "Ana" is settled
    And "Ana" holds 5 units of "SME1" in the platform and on the ledger
    And an auditor finds the holders of "SME1" on the ledger equal to the platform's books
