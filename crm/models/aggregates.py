"""Per-player aggregates, kept current as events are processed, so segments and templates never scan events."""

from __future__ import annotations

from django.db import models


class PlayerAggregate(models.Model):
    """Counters and sums of one player's activity. Amounts are in the player's wallet currency."""

    player = models.OneToOneField("crm.Player", on_delete=models.CASCADE, primary_key=True, related_name="aggregate")
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    deposit_count = models.IntegerField(default=0)
    deposit_sum = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    first_deposit_at = models.DateTimeField(null=True, blank=True)
    last_deposit_at = models.DateTimeField(null=True, blank=True)
    withdrawal_count = models.IntegerField(default=0)
    withdrawal_sum = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    bet_count = models.IntegerField(default=0, help_text="Casino and sport bets.")
    bet_sum = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    win_sum = models.DecimalField(max_digits=20, decimal_places=4, default=0, help_text="Casino and sport wins.")
    login_count = models.IntegerField(default=0)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_entry_point = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "player aggregate"

    def __str__(self) -> str:
        return f"aggregates of player {self.player_id}"
