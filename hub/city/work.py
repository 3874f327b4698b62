"""School and work: every child of school age in a class of a school of the
right level near home, teachers drawn from the city's adults for the schools
that need them most, the other working adults on enterprises' registers, and
at the end each school's staff roles and its classes' head teachers."""

from __future__ import annotations

from datetime import date
from random import Random

from hub.city.model import Clock, Demography
from hub.city.part import Events
from hub.city.person import Person
from hub.city.plan import LEVEL_OF_GRADE, CityPlan, Community, School
from hub.ids import ZHENGZHOU_DISTRICTS

__all__ = ["Work"]


class Work:
    """Schools' and enterprises' registers as households are generated."""

    def __init__(self, plan: CityPlan, clock: Clock, events: Events, demography: Demography) -> None:
        self.plan, self.clock, self.events = plan, clock, events
        self._enrolment = events.enrolment
        self._job = events.job
        self.slot_pos = 0
        staff_target = sum(s.staff_target for s in plan.schools)
        persons = sum(c.size for c in plan.communities)
        #: Chance that an adult of 23-57 is asked to teach (while schools are short of staff).
        self.p_teacher = min(0.5, 1.25 * staff_target / max(1.0, persons * demography.teacher_pool))
        self.schools_in = {d: [s for s in plan.schools if s.district == d] for d in ZHENGZHOU_DISTRICTS}
        self.staff_short = sum(1 for s in plan.schools if s.staff_target > 0)

    def enrol(self, rng: Random, p: Person, comm: Community, guardians: list[str]) -> None:
        k = p.grade
        assert k is not None
        options = self.plan.school_choice[LEVEL_OF_GRADE[k]][comm.district]
        school = options[int(rng.random() * len(options))]
        classes = school.classes[k]
        class_id = classes[int(rng.random() * len(classes))]
        phone = guardians[int(rng.random() * len(guardians))] if guardians else None
        school.pupils += 1
        if school.first_pupil is None:
            school.first_pupil, school.first_pupil_community = p.id_number, comm.comm_id
        p.school = school
        self._enrolment(p, school, class_id, k, phone)

    def teach(self, p: Person, district: str) -> bool:
        """Make ``p`` a member of staff of the school that needs one most (in the
        home district if it can); False when every school is fully staffed."""
        if self.staff_short == 0:
            return False
        best: School | None = None
        for pool in (self.schools_in[district], self.plan.schools):
            for school in pool:
                if len(school.staff) < school.staff_target and (
                        best is None or school.staff_target - len(school.staff)
                        > best.staff_target - len(best.staff)):
                    best = school
            if best is not None:
                break
        if best is None:
            self.staff_short = 0
            return False
        best.staff.append((p.id_number, p.name, p.mobile))
        p.school = best
        if len(best.staff) == best.staff_target:
            self.staff_short -= 1
        return True

    def employ(self, rng: Random, p: Person, avoid: int) -> int:
        """Register ``p`` with the enterprise of the next job slot (not ``avoid``,
        the enterprise of a first job); returns the enterprise's index."""
        plan = self.plan
        slots = plan.job_slots
        index: int
        if self.slot_pos < len(slots):
            index = slots[self.slot_pos]
            self.slot_pos += 1
        else:
            index = slots[int(rng.random() * len(slots))]
        if index == avoid:
            return index  # a second job at the same enterprise: one registration
        ent = plan.enterprises[index]
        if ent.employees == 0:
            ent.first_employee = p.id_number
        if ent.employees == 0 and p.age >= 30:
            post = "总经理"
        else:
            post = ent.posts[int(rng.random() * len(ent.posts))]
        ent.employees += 1
        years = max(0.1, min(p.age - 20, 25.0))
        hired = date.fromordinal(self.clock.today_ord - 14 - int(rng.random() * years * 365))
        p.employers += (ent,)
        self._job(p, ent, post, hired)
        return index

    def staff_and_classes(self, seed: int) -> None:
        """Staff (roles decided now that every school's staff is known: the
        eldest is the principal) and classes with their head teachers."""
        rng = Random(f"{seed}/staff")
        staff_member, school_class = self.events.staff_member, self.events.school_class
        for school in self.plan.schools:
            staff = school.staff
            if staff:
                eldest = min(range(len(staff)), key=lambda j: staff[j][0][6:14])  # birth date in the ID
                staff.insert(0, staff.pop(eldest))
            class_ids = [(g, i + 1, cid) for g in sorted(school.classes) for i, cid in enumerate(school.classes[g])]
            heads = len(class_ids)
            for j, (idn, name, phone) in enumerate(staff):
                if j == 0:
                    role = "PRINCIPAL"
                elif j <= heads:
                    role = "HEAD_TEACHER"
                else:
                    role = "TEACHER" if rng.random() < 0.85 else "STAFF"
                staff_member(school, idn, name, phone, role)
            for j, (grade, class_no, cid) in enumerate(class_ids):
                head: str | None
                if len(staff) > 1:
                    head = staff[1 + j % (len(staff) - 1)][0]
                else:
                    head = staff[0][0] if staff else None
                school_class(school, cid, grade, class_no, head)
