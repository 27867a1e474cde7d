# Withheld badge awards: a WithheldCredit row with the badge and no currency.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gamification", "0012_participant_excluded"),
    ]

    operations = [
        migrations.AddField(
            model_name="withheldcredit",
            name="badge",
            field=models.ForeignKey(
                blank=True,
                help_text="The badge that was not awarded (its next stage).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="gamification.badge",
            ),
        ),
        migrations.AlterField(
            model_name="withheldcredit",
            name="amount",
            field=models.BigIntegerField(help_text="The credit that was not given (0 for a badge)."),
        ),
        migrations.AlterField(
            model_name="withheldcredit",
            name="currency",
            field=models.CharField(
                blank=True,
                choices=[("points", "Points"), ("gems", "Gems"), ("diamonds", "Diamonds")],
                help_text="Empty for a badge.",
                max_length=8,
            ),
        ),
        migrations.AddConstraint(
            model_name="withheldcredit",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("amount__gt", 0), ("badge__isnull", True), models.Q(("currency", ""), _negated=True)),
                    models.Q(("amount", 0), ("badge__isnull", False), ("currency", "")),
                    _connector="OR",
                ),
                name="withheld_credit_or_badge",
            ),
        ),
    ]
