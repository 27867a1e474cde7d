"""Staff credit caps and the four-eyes requests above them, reversals of credits, and automated credits withheld from
players whose account is not ACTIVE (issue 10, item 6)."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_label_base_currency_active_only"),
        ("crm", "0005_player_control_group"),
        ("gamification", "0010_mission_progress_per_player"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CreditLimit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, help_text="When the row was created (UTC).")),
                ("updated_at", models.DateTimeField(auto_now=True, help_text="When the row last changed (UTC).")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("admin", "Admin"),
                            ("manager", "Manager"),
                            ("support", "Support"),
                            ("integration_engineer", "Integration engineer"),
                        ],
                        help_text="The staff role the caps apply to.",
                        max_length=32,
                    ),
                ),
                (
                    "currency",
                    models.CharField(
                        choices=[("points", "Points"), ("gems", "Gems"), ("diamonds", "Diamonds")],
                        help_text="Points, gems or diamonds.",
                        max_length=8,
                    ),
                ),
                (
                    "per_adjustment",
                    models.BigIntegerField(
                        help_text="Largest single credit applied at once; above it the credit waits for approval "
                        "(0: every credit).",
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
                (
                    "per_day",
                    models.BigIntegerField(
                        help_text="Largest total of one staff member's credits applied at once in a day "
                        "(the label's time zone).",
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
            ],
            options={
                "ordering": ["label", "role", "currency"],
            },
        ),
        migrations.CreateModel(
            name="CreditRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, help_text="When the row was created (UTC).")),
                ("updated_at", models.DateTimeField(auto_now=True, help_text="When the row last changed (UTC).")),
                (
                    "currency",
                    models.CharField(
                        choices=[("points", "Points"), ("gems", "Gems"), ("diamonds", "Diamonds")],
                        help_text="Points, gems or diamonds.",
                        max_length=8,
                    ),
                ),
                ("amount", models.BigIntegerField(help_text="The credit asked for (positive).")),
                (
                    "reason",
                    models.CharField(
                        help_text="Why, as the requester wrote it; kept on the wallet entry.", max_length=500
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="Unique per label: the same form submitted twice asks once.", max_length=255
                    ),
                ),
                (
                    "exceeded",
                    models.CharField(help_text="Which cap the credit is above, when it was asked.", max_length=255),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("approved", "Approved"), ("rejected", "Rejected")],
                        default="pending",
                        max_length=16,
                    ),
                ),
                (
                    "decided_at",
                    models.DateTimeField(blank=True, help_text="When it was approved or rejected (UTC).", null=True),
                ),
                (
                    "decision_note",
                    models.CharField(blank=True, help_text="Why it was rejected (optional).", max_length=500),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="WithheldCredit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "currency",
                    models.CharField(
                        choices=[("points", "Points"), ("gems", "Gems"), ("diamonds", "Diamonds")], max_length=8
                    ),
                ),
                ("amount", models.BigIntegerField(help_text="The credit that was not given.")),
                ("source", models.CharField(help_text="What would have paid it.", max_length=16)),
                ("key", models.CharField(help_text="The credit's key: unique per label.", max_length=255)),
                (
                    "reason",
                    models.CharField(blank=True, help_text="The credit's reason (e.g. the mission).", max_length=500),
                ),
                (
                    "account_status",
                    models.CharField(help_text="The player's account status at the time.", max_length=16),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, help_text="When it was withheld (UTC).")),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.AddField(
            model_name="walletentry",
            name="reverses",
            field=models.OneToOneField(
                blank=True,
                help_text="The credit this entry takes back (a credit is reversed at most once).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reversal",
                to="gamification.walletentry",
            ),
        ),
        migrations.AlterField(
            model_name="walletentry",
            name="source",
            field=models.CharField(
                choices=[
                    ("mission", "Mission"),
                    ("tournament", "Tournament"),
                    ("store", "Store"),
                    ("rule", "Rule"),
                    ("journey", "Journey"),
                    ("manual", "Manual"),
                    ("api", "API"),
                    ("reversal", "Reversal"),
                ],
                help_text="What caused the change.",
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="walletentry",
            index=models.Index(
                condition=models.Q(("created_by__isnull", False)),
                fields=["created_by", "created_at"],
                name="wallet_entry_staff_idx",
            ),
        ),
        migrations.AddField(
            model_name="creditlimit",
            name="label",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="backoffice.label"
            ),
        ),
        migrations.AddField(
            model_name="creditrequest",
            name="decided_by",
            field=models.ForeignKey(
                blank=True,
                help_text="Who approved or rejected it (never the requester).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="creditrequest",
            name="entry",
            field=models.OneToOneField(
                blank=True,
                help_text="The wallet entry its approval wrote.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credit_request",
                to="gamification.walletentry",
            ),
        ),
        migrations.AddField(
            model_name="creditrequest",
            name="label",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="backoffice.label"
            ),
        ),
        migrations.AddField(
            model_name="creditrequest",
            name="player",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="credit_requests", to="crm.player"
            ),
        ),
        migrations.AddField(
            model_name="creditrequest",
            name="requested_by",
            field=models.ForeignKey(
                help_text="Who asked.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="withheldcredit",
            name="label",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="backoffice.label"
            ),
        ),
        migrations.AddField(
            model_name="withheldcredit",
            name="player",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="withheld_credits", to="crm.player"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditlimit",
            constraint=models.UniqueConstraint(
                fields=("label", "role", "currency"), name="credit_limit_unique_role_currency"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditlimit",
            constraint=models.CheckConstraint(
                condition=models.Q(("per_adjustment__gte", 0)), name="credit_limit_per_adjustment_gte_0"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditlimit",
            constraint=models.CheckConstraint(
                condition=models.Q(("per_day__gte", models.F("per_adjustment"))), name="credit_limit_day_gte_one"
            ),
        ),
        migrations.AddIndex(
            model_name="creditrequest",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["label", "id"], name="credit_request_pending_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditrequest",
            constraint=models.UniqueConstraint(fields=("label", "key"), name="credit_request_unique_key"),
        ),
        migrations.AddConstraint(
            model_name="creditrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gt", 0)), name="credit_request_amount_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="creditrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("decided_by__isnull", True),
                    models.Q(("decided_by", models.F("requested_by")), _negated=True),
                    _connector="OR",
                ),
                name="credit_request_four_eyes",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("decided_at__isnull", True), ("status", "pending")),
                    models.Q(models.Q(("status", "pending"), _negated=True), ("decided_at__isnull", False)),
                    _connector="OR",
                ),
                name="credit_request_decided_iff_not_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="withheldcredit",
            index=models.Index(fields=["player", "-id"], name="withheld_credit_player_idx"),
        ),
        migrations.AddConstraint(
            model_name="withheldcredit",
            constraint=models.UniqueConstraint(fields=("label", "key"), name="withheld_credit_unique_key"),
        ),
    ]
