"""URLs of affiliate tracking: tracking links and the conversion pixel `/convert/{click_id}`."""

urlpatterns: list = []
