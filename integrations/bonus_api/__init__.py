"""The operator's Bonus API (docs/bonus-api.md): catalogue, issue, lookup; the redeem callback is served by crm.api."""
