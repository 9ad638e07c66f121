from sqlalchemy import Engine

from models import requests as rq
from models.db import transaction
from tests.conftest import NOW, TEAM, RegionFactory


def test_submit_reserves(engine: Engine, make_region: RegionFactory) -> None:
    make_region("ZEELAND", days="5")
    with transaction(engine) as session:
        request = rq.submit(
            session, rq.NewRequest(region="ZEELAND", kind="process", half_days=3), TEAM, NOW
        )
    assert request.ref == "STO-2026-0001"
