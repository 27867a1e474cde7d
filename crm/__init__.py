"""CRM: players, events, segments, rules, journeys, messaging, bonuses, tickets, orders."""
