Feature: Repayment
  The SME borrowers repay the securitization company; each month the admin distributes interest and
  principal to the holders pro rata by units, exact to the cent. Principal retires units; at maturity
  everything is redeemed and burned. A blocked holder's share is held back until unblocked.

  Background:
    Given an open instrument "SME2" of 1000 units at 10.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 10.00 to 50000.00 EUR
    And an active investor "Ana" classified "EU_NON_ACCREDITED"
    And "Ana" holds 100 units of "SME2"
    And an active investor "Bob" classified "US_ACCREDITED"
    And "Bob" holds 200 units of "SME2"
    And an active investor "Cleo" classified "US_ACCREDITED"
    And "Cleo" holds 33 units of "SME2"

  Scenario: A monthly repayment is allocated pro rata and exactly
    # 333 units hold 100.00 EUR interest: 30.03 / 60.06 / 9.91 (the spare cent goes to the largest
    # remainder); 330.00 EUR principal retires 33 units of 10.00 EUR: 10 / 20 / 3.
    When the admin triggers the repayment of "SME2" for period "2026-11" with interest 100.00 EUR and principal 330.00 EUR
    Then the shares paid sum to exactly 430.00 EUR
    And "Ana" received 130.03 EUR of stablecoin
    And "Bob" received 260.06 EUR of stablecoin
    And "Cleo" received 39.91 EUR of stablecoin
    And "Ana" holds 90 units of "SME2" in the platform and on the ledger
    And "Bob" holds 180 units of "SME2" in the platform and on the ledger
    And "Cleo" holds 30 units of "SME2" in the platform and on the ledger
    And an auditor finds the holders of "SME2" on the ledger equal to the platform's books

  Scenario: Units a holder transferred on the ledger are repaid to their new holder
    # The ledger is the register: Bob's 100 units sent to Ana on chain are Ana's at the repayment.
    When "Bob" transfers 100 units of "SME2" to "Ana" on the ledger
    And the admin triggers the repayment of "SME2" for period "2026-11" with interest 100.00 EUR and principal 0.00 EUR
    Then "Ana" received 60.06 EUR of stablecoin
    And "Bob" received 30.03 EUR of stablecoin
    And "Cleo" received 9.91 EUR of stablecoin
    And "Ana" holds 200 units of "SME2" in the platform and on the ledger
    And "Bob" holds 100 units of "SME2" in the platform and on the ledger

  Scenario: A blocked holder's share is held back and released on unblock
    Given AML monitoring flags "Bob" for "suspicious transfer pattern"
    When the admin triggers the repayment of "SME2" for period "2026-11" with interest 100.00 EUR and principal 0.00 EUR
    Then "Bob" received 0.00 EUR of stablecoin
    And "Bob" has 60.06 EUR held back
    And "Ana" received 30.03 EUR of stablecoin
    When a compliance officer unblocks "Bob" because "alert cleared after review"
    Then "Bob" received 60.06 EUR of stablecoin
    And "Bob" has 0.00 EUR held back

  Scenario: A holder flagged while a repayment is being paid out is held back, and nobody is paid twice
    Given AML monitoring will flag "Cleo" for "late alert" while the next repayment is being paid out
    When the admin triggers the repayment of "SME2" for period "2026-11" with interest 100.00 EUR and principal 0.00 EUR
    Then "Cleo" received 0.00 EUR of stablecoin
    And "Cleo" has 9.91 EUR held back
    And "Ana" received 30.03 EUR of stablecoin
    And "Bob" received 60.06 EUR of stablecoin

  Scenario: The final redemption burns every unit
    When the admin triggers the final repayment of "SME2" for period "2027-12" with interest 10.00 EUR and principal 3330.00 EUR
    Then "Ana" holds 0 units of "SME2" in the platform and on the ledger
    And "Bob" holds 0 units of "SME2" in the platform and on the ledger
    And "Cleo" holds 0 units of "SME2" in the platform and on the ledger
    And no units of "SME2" remain on the ledger
    And "SME2" has matured

  Scenario: An investor cashes out repaid stablecoin
    When the admin triggers the repayment of "SME2" for period "2026-11" with interest 100.00 EUR and principal 0.00 EUR
    And "Ana" withdraws 30.00 EUR
    Then "Ana" has 0.03 EUR of stablecoin
    And a payout of 30.00 EUR to "Ana" is recorded
