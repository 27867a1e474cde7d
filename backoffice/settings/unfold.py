"""django-unfold theme configuration, imported into settings as UNFOLD.

It lives here, not in `backoffice.admin`: settings load before the app registry, and importing the admin package
then would register model admins too early (and autodiscovery would never import it again).
Callbacks are dotted paths, resolved per request.
"""

from django.templatetags.static import static
from django.urls import reverse_lazy


def _item(title: str, icon: str, url_name: str, permission: str) -> dict:
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(url_name),
        "permission": f"backoffice.admin.navigation.{permission}",
    }


UNFOLD = {
    "SITE_TITLE": "Pitboss",
    "SITE_HEADER": "Pitboss",
    "SITE_SUBHEADER": "CRM & gamification",
    "SITE_SYMBOL": "casino",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "backoffice.admin.dashboard.dashboard_callback",
    "GLOBAL_CALLBACK": "backoffice.admin.context.admin_context",
    "STYLES": [lambda request: static("pitboss/admin.css")],
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": [
            {
                "title": "Overview",
                "items": [{"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")}],
            },
            {
                "title": "CRM",
                "items": [
                    _item("Players", "groups", "admin:crm_player_changelist", "players"),
                    _item("Segments", "group_work", "admin:crm_segment_changelist", "segments"),
                    {
                        **_item("Events", "receipt_long", "admin:crm_event_changelist", "events"),
                        "active": "backoffice.admin.navigation.events_active",
                    },
                    _item("Automation rules", "bolt", "admin:crm_rule_changelist", "rules"),
                    _item("Bonuses", "redeem", "admin:crm_bonus_changelist", "bonuses"),
                    _item("Bonus templates", "card_giftcard", "admin:crm_bonustemplate_changelist", "bonus_templates"),
                ],
            },
            {
                "title": "Customer success",
                "items": [
                    {
                        "title": "Financial dashboard",
                        "icon": "monitoring",
                        "link": reverse_lazy("admin:crm_financial_dashboard"),
                        "permission": "crm.admin.financial.nav_dashboard",
                    },
                    {
                        "title": "Account financials",
                        "icon": "account_balance",
                        "link": reverse_lazy("admin:crm_customerfinancials_changelist"),
                        "permission": "crm.admin.financial.nav_accounts",
                    },
                    {
                        "title": "Orders",
                        "icon": "receipt",
                        "link": reverse_lazy("admin:crm_order_changelist"),
                        "permission": "crm.admin.financial.nav_orders",
                    },
                    {
                        "title": "ARR targets",
                        "icon": "flag_circle",
                        "link": reverse_lazy("admin:crm_accountfinancialconfig_changelist"),
                        "permission": "crm.admin.financial.nav_account_config",
                    },
                    {
                        "title": "Churn tolerance",
                        "icon": "tune",
                        "link": reverse_lazy("admin:crm_appfinancialconfig_changelist"),
                        "permission": "crm.admin.financial.nav_app_config",
                        "active": "crm.admin.financial.nav_app_config_active",
                    },
                ],
            },
            {
                "title": "Support",
                "items": [
                    _item("Tickets", "support_agent", "admin:crm_ticket_changelist", "tickets"),
                    _item("Agents", "badge", "admin:crm_ticketagent_changelist", "ticket_agents"),
                    _item("Contacts", "contacts", "admin:crm_ticketcontact_changelist", "ticket_contacts"),
                    _item("SLA policies", "timer", "admin:crm_ticketslapolicy_changelist", "ticket_sla_policies"),
                ],
            },
            {
                "title": "Gamification",
                "items": [
                    _item("Wallet ledger", "toll", "admin:gamification_walletentry_changelist", "wallet_entries"),
                    {
                        "title": "Credit approvals",
                        "icon": "approval",
                        "link": reverse_lazy("admin:gamification_creditrequest_changelist"),
                        "permission": "gamification.admin.credits.nav_credit_requests",
                        "badge": "gamification.admin.credits.nav_credit_requests_badge",
                    },
                    {
                        "title": "Credit caps",
                        "icon": "price_check",
                        "link": reverse_lazy("admin:gamification_creditlimit_changelist"),
                        "permission": "gamification.admin.credits.nav_credit_limits",
                    },
                    {
                        "title": "Withheld credits",
                        "icon": "block",
                        "link": reverse_lazy("admin:gamification_withheldcredit_changelist"),
                        "permission": "gamification.admin.credits.nav_withheld_credits",
                    },
                    _item("Levels", "military_tech", "admin:gamification_level_changelist", "levels"),
                    _item("Missions", "flag", "admin:gamification_mission_changelist", "missions"),
                    _item("Badges", "workspace_premium", "admin:gamification_badge_changelist", "badges"),
                    {
                        "title": "Tournaments",
                        "icon": "emoji_events",
                        "link": reverse_lazy("admin:gamification_tournament_changelist"),
                        "permission": "gamification.admin.tournaments.nav_tournaments",
                    },
                    {
                        "title": "Tournament runs",
                        "icon": "leaderboard",
                        "link": reverse_lazy("admin:gamification_tournamentinstance_changelist"),
                        "permission": "gamification.admin.tournament_instances.nav_instances",
                    },
                    _item("Store items", "storefront", "admin:gamification_storeitem_changelist", "store_items"),
                    _item("Store categories", "category", "admin:gamification_storecategory_changelist", "store_cats"),
                    _item("Purchases", "shopping_bag", "admin:gamification_storepurchase_changelist", "purchases"),
                ],
            },
            {
                "title": "Usage analytics",
                "items": [
                    {"title": t, "icon": i, "link": reverse_lazy(u), "permission": f"crm.admin.usage.{p}"}
                    for t, i, u, p in (
                        ("Customer accounts", "domain", "admin:crm_customeraccount_changelist", "nav_accounts"),
                        ("Usage users", "person_search", "admin:crm_usageuser_changelist", "nav_users"),
                        ("Apps", "apps", "admin:crm_usageapp_changelist", "nav_apps"),
                    )
                ],
            },
            {
                "title": "Affiliates",
                "items": [
                    {
                        "title": title,
                        "icon": icon,
                        "link": reverse_lazy(url),
                        "permission": f"crm.admin.affiliates.nav_{nav}",
                        **(
                            {"active": "crm.admin.affiliates.nav_affiliates_active"} if nav == "affiliates_list" else {}
                        ),
                    }
                    for title, icon, url, nav in (
                        ("Affiliates", "handshake", "admin:crm_affiliate_changelist", "affiliates_list"),
                        ("Affiliate report", "bar_chart", "admin:crm_affiliate_report", "affiliates"),
                        ("Campaigns", "campaign", "admin:crm_campaign_changelist", "campaigns"),
                        ("Tracking links", "link", "admin:crm_trackinglink_changelist", "links"),
                        ("Clicks", "ads_click", "admin:crm_click_changelist", "conversions"),
                        ("Conversions", "paid", "admin:crm_conversion_changelist", "conversions"),
                    )
                ],
            },
            {
                "title": "Data",
                "items": [
                    _item("Ingestion", "monitoring", "admin:crm_event_ingestion", "events"),
                    _item("Pipeline failures", "error", "admin:crm_pipelinefailure_changelist", "pipeline_failures"),
                    _item("Event types", "category", "admin:crm_eventtype_changelist", "event_types"),
                    _item("Replica sources", "database", "admin:integrations_datasource_changelist", "data_sources"),
                    _item("Synced views", "sync", "admin:integrations_syncview_changelist", "sync_views"),
                    _item("Stream sources", "stream", "admin:integrations_streamsource_changelist", "stream_sources"),
                    _item("Bonus API", "api", "admin:integrations_bonusapiconnection_changelist", "bonus_api"),
                    _item(
                        "Sandbox Bonus API",
                        "science",
                        "admin:integrations_sandboxbonussettings_changelist",
                        "sandbox_bonus_api",
                    ),
                ],
            },
            {
                "title": "Tenancy",
                "items": [
                    _item("Labels", "apartment", "admin:backoffice_label_changelist", "labels"),
                    _item("Exchange rates", "currency_exchange", "admin:backoffice_exchangerate_changelist", "rates"),
                    _item("Brands", "storefront", "admin:backoffice_brand_changelist", "brands"),
                    _item("Staff roles", "badge", "admin:backoffice_staffrole_changelist", "staff_roles"),
                    _item("API keys", "key", "admin:backoffice_apikey_changelist", "api_keys"),
                ],
            },
            {
                "title": "System",
                "items": [
                    _item("Users", "person", "admin:auth_user_changelist", "superuser"),
                    _item("Groups", "group", "admin:auth_group_changelist", "superuser"),
                    _item(
                        "Periodic tasks", "schedule", "admin:django_celery_beat_periodictask_changelist", "superuser"
                    ),
                    _item("Intervals", "timer", "admin:django_celery_beat_intervalschedule_changelist", "superuser"),
                    _item(
                        "Crontabs", "event_repeat", "admin:django_celery_beat_crontabschedule_changelist", "superuser"
                    ),
                    _item("Clocked", "alarm", "admin:django_celery_beat_clockedschedule_changelist", "superuser"),
                    _item(
                        "Solar events", "wb_twilight", "admin:django_celery_beat_solarschedule_changelist", "superuser"
                    ),
                ],
            },
        ],
    },
}
