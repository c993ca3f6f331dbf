"""Ranking sentences and composing grounded answers: pure logic, no I/O."""
