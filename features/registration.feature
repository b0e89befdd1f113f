Feature: Registration
  An investor registers through the platform, passes KYC/AML with the provider, and is classified.
  Approved investors get a custodial wallet, activated on the ledger, and a non-transferable
  classification token recording their class on chain.

  Scenario: An EU investor without verified accreditation is onboarded as EU non-accredited
    Given an investor "Ana" registered with residence "DE" who declares to be accredited
    When the KYC provider approves "Ana" with verified residence "DE" and no accreditation evidence
    Then "Ana" is active
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And "Ana" has a custodial wallet activated on the ledger
    And the frontend is told that "Ana" was classified

  Scenario: A US investor with verified accreditation is onboarded as US accredited
    Given an investor "Bob" registered with residence "US"
    When the KYC provider approves "Bob" with verified residence "US" and verified accreditation
    Then "Bob" is active
    And "Bob" is classified "US_ACCREDITED" in the platform and on the ledger

  Scenario: A rejected applicant gets nothing on chain
    Given an investor "Carl" registered with residence "FR"
    When the KYC provider rejects "Carl" for "FORGERY"
    Then "Carl" is rejected with reason "FORGERY"
    And "Carl" has no wallet and nothing on the ledger
    And the frontend is told that "Carl" was rejected

  Scenario: A sanctions hit at onboarding classifies as sanctioned and blocks
    Given an investor "Dmitri" registered with residence "CY"
    When the KYC provider reports a sanctions hit for "Dmitri"
    Then "Dmitri" is classified "SANCTIONED" in the platform and on the ledger
    And "Dmitri" is blocked
    And the wallet of "Dmitri" is frozen on the ledger

  Scenario: A residence outside the US and the EU/EEA is refused with a clear reason
    Given an investor "Chen" registered with residence "SG"
    When the KYC provider approves "Chen" with verified residence "SG" and no accreditation evidence
    Then "Chen" is rejected with reason "outside the US and the EU/EEA"

  Scenario: A duplicate KYC notification changes nothing
    Given an investor "Ana" registered with residence "DE"
    When the KYC provider approves "Ana" with verified residence "DE" and no accreditation evidence
    And the KYC provider approves "Ana" with verified residence "DE" and no accreditation evidence
    Then "Ana" is active
    And "Ana" was classified on the ledger exactly once

  @sumsub
  Scenario: A rejection the investor may fix (RETRY), a second submission, then a green review
    Given an investor "Ana" registered with residence "DE"
    When the KYC provider asks "Ana" to submit again because "BAD_PROOF_OF_IDENTITY"
    Then "Ana" is asked to submit KYC again because "BAD_PROOF_OF_IDENTITY"
    And "Ana" has no wallet and nothing on the ledger
    And the frontend is told that "Ana" must submit again
    When "Ana" starts KYC again with the same applicant
    And the KYC provider verifies "Ana" with residence "DEU" and approves
    Then "Ana" is active
    And "Ana" is classified "EU_NON_ACCREDITED" in the platform and on the ledger
    And "Ana" has a custodial wallet activated on the ledger
    And the frontend is told that "Ana" was classified
