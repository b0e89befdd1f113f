Feature: Money in and out by bank transfer
  An investor wires euros to the platform's bank account with their investor id in the reference;
  the bank statement the operators import mints stablecoin 1:1 to the investor's wallet, once per
  bank entry, and the investor pays orders from that balance (no card). Withdrawals go out in a
  SEPA credit-transfer file and the next statement confirms them; a transfer the bank sends back
  is credited back to the investor, who is told.

  Background:
    Given an open instrument "SME1" of 1000 units at 100.00 EUR for "US_ACCREDITED, EU_NON_ACCREDITED" with tickets from 100.00 to 50000.00 EUR
    And an active investor "Ana" classified "EU_NON_ACCREDITED"

  Scenario: A deposit, then an order paid from the balance
    When the bank statement shows a transfer of 650.00 EUR naming "Ana"
    Then "Ana" has 650.00 EUR of stablecoin
    When the operators import the same bank statement again
    Then "Ana" has 650.00 EUR of stablecoin
    When "Ana" orders 7 units of "SME1"
    And "Ana" tries to pay the order from the balance
    Then the payment is refused because "does not cover"
    And the order of "Ana" is "CREATED"
    And "Ana" has 650.00 EUR of stablecoin
    When "Ana" cancels the order
    And "Ana" orders 5 units of "SME1"
    And "Ana" pays the order from the balance
    Then the order of "Ana" is settled
    And "Ana" holds 5 units of "SME1" in the platform and on the ledger
    And "Ana" has 150.00 EUR of stablecoin
    And an auditor finds the holders of "SME1" on the ledger equal to the platform's books

  Scenario: A withdrawal paid out and confirmed by a statement
    Given "Ana" has registered the payout account "DE89 3704 0044 0532 0130 00"
    And the bank statement shows a transfer of 200.00 EUR naming "Ana"
    When "Ana" withdraws 120.00 EUR
    And the operators export the payout file
    Then the payout file pays 120.00 EUR to the account of "Ana"
    When the bank statement shows the payout to "Ana" debited
    Then the withdrawal of "Ana" is "PAID_OUT"
    And "Ana" has 80.00 EUR of stablecoin

  Scenario: A returned payout is credited back
    Given "Ana" has registered the payout account "DE89 3704 0044 0532 0130 00"
    And the bank statement shows a transfer of 200.00 EUR naming "Ana"
    When "Ana" withdraws 200.00 EUR
    And the operators export the payout file
    And the bank statement shows the payout to "Ana" debited
    And the bank statement shows the payout to "Ana" returned because "AC04"
    Then the withdrawal of "Ana" is "RETURNED"
    And "Ana" has 200.00 EUR of stablecoin
    And "Ana" is told that the payout came back
    When the operators import the same bank statement again
    Then "Ana" has 200.00 EUR of stablecoin
