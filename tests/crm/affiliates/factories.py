"""Affiliates, campaigns, links and clicks for the affiliate-tracking tests."""

from __future__ import annotations

import factory
from django.utils import timezone

from crm.models import Affiliate, Campaign, Click, TrackingLink


class AffiliateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliate

    code = factory.Sequence(lambda n: str(1000 + n))
    name = factory.Sequence(lambda n: f"Affiliate {n}")


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    affiliate = factory.SubFactory(AffiliateFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")


class TrackingLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingLink

    campaign = factory.SubFactory(CampaignFactory)
    label = factory.LazyAttribute(lambda link: link.campaign.label)
    name = factory.Sequence(lambda n: f"Link {n}")
    landing_url = "https://casino.example/welcome?lang=en"


def funnel(tenant, *, code: str = "1042", affiliate_name: str = "Acme Partners"):
    """An affiliate of `tenant`'s label with a campaign on its brand and a link: (affiliate, campaign, link)."""
    affiliate = AffiliateFactory(label=tenant.label, code=code, name=affiliate_name)
    campaign = CampaignFactory(label=tenant.label, affiliate=affiliate, brand=tenant.brand, name="Spring promo")
    link = TrackingLinkFactory(campaign=campaign, name="Banner")
    return affiliate, campaign, link


def click_on(link, **fields) -> Click:
    return Click.objects.create(
        label_id=link.label_id,
        link=link,
        campaign_id=link.campaign_id,
        affiliate_id=link.campaign.affiliate_id,
        created_at=fields.pop("created_at", timezone.now()),
        landing_url=link.landing_url,
        **fields,
    )
