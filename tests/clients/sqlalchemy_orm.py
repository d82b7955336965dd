"""SQLAlchemy 2 ORM, unmodified (psycopg 3 dialect), against Spanlite's
PostgreSQL port: create_all with a foreign key and a native enum type, the
unit of work, joined and select-in relationship loading, update,
autoincrement keys, enum values compared and sorted in the type's order,
inspect() reflection (the enum type's labels too), an ARRAY column
(contains, any, subscripts, reflected as ARRAY(VARCHAR(30))), drop_all
(the type too). Usage: sqlalchemy_orm.py URL; prints
"sqlalchemy: ok". Run by server/node/tests/clients.rs."""
import enum
import os
import sys
from sqlalchemy import create_engine, Enum, ForeignKey, String, select, inspect, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, Session, selectinload, joinedload

url = sys.argv[1]
engine = create_engine(url, echo=bool(os.environ.get("ECHO")))

class Base(DeclarativeBase):
    pass

class Status(enum.Enum):
    # Declared out of alphabetical order: sorting by the type's order
    # differs from sorting the labels' text.
    written = "written"
    published = "published"
    archived = "archived"

class Author(Base):
    __tablename__ = "sa_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author")

class Book(Base):
    __tablename__ = "sa_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), index=True)
    pages: Mapped[int | None]
    author_id: Mapped[int] = mapped_column(ForeignKey("sa_authors.id"))
    status: Mapped[Status] = mapped_column(Enum(Status, name="sa_status"), default=Status.written)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    author: Mapped[Author] = relationship(back_populates="books")

Base.metadata.drop_all(engine)
Base.metadata.create_all(engine)
with Session(engine) as s:
    a = Author(name="Le Guin", books=[Book(title="The Dispossessed", pages=387, status=Status.published, tags=["utopia", "physics"]), Book(title="The Lathe of Heaven", pages=184)])
    b = Author(name="Lem", books=[Book(title="Solaris", pages=204, status=Status.archived, tags=["ocean"])])
    s.add_all([a, b])
    s.commit()
    assert a.id is not None and b.id is not None and a.id != b.id, (a.id, b.id)
with Session(engine) as s:
    authors = s.scalars(select(Author).options(joinedload(Author.books)).order_by(Author.name)).unique().all()
    assert [x.name for x in authors] == ["Le Guin", "Lem"]
    assert sorted(b.title for b in authors[0].books) == ["The Dispossessed", "The Lathe of Heaven"]
    rows = s.execute(select(Book.title, Author.name).join(Book.author).where(Book.pages > 200).order_by(Book.title)).all()
    assert [tuple(r) for r in rows] == [("Solaris", "Lem"), ("The Dispossessed", "Le Guin")], rows
    lem = s.scalars(select(Author).options(selectinload(Author.books)).where(Author.name == "Lem")).one()
    lem.books[0].pages = 210
    s.commit()
with Session(engine) as s:
    assert s.scalars(select(Book.pages).where(Book.title == "Solaris")).one() == 210
    by_status = s.execute(select(Book.title, Book.status).order_by(Book.status)).all()
    assert [tuple(r) for r in by_status] == [("The Lathe of Heaven", Status.written), ("The Dispossessed", Status.published), ("Solaris", Status.archived)], by_status
    later = s.scalars(select(Book.title).where(Book.status > Status.written).order_by(Book.title)).all()
    assert later == ["Solaris", "The Dispossessed"], later
    book = s.scalars(select(Book).where(Book.status == Status.written)).one()
    book.status = Status.archived
    s.commit()
    assert s.scalars(select(Book.title).where(Book.status.in_([Status.archived])).order_by(Book.title)).all() == ["Solaris", "The Lathe of Heaven"]
    try:
        s.execute(text("UPDATE sa_books SET status = 'lost'"))
        raise AssertionError("a word that is no label was stored")
    except Exception as e:
        assert "22P02" in str(getattr(e.orig, "sqlstate", "")) or "invalid input value for enum" in str(e), e
    s.rollback()
with Session(engine) as s:
    assert s.scalars(select(Book.title).where(Book.tags.contains(["physics"]))).all() == ["The Dispossessed"]
    assert s.scalars(select(Book.title).where(Book.tags.any("ocean"))).all() == ["Solaris"]
    assert s.scalars(select(Book.tags[1]).where(Book.title == "The Dispossessed")).one() == "utopia"
    assert s.scalars(select(Book.tags).where(Book.title == "The Lathe of Heaven")).one() == []
    solaris = s.scalars(select(Book).where(Book.title == "Solaris")).one()
    solaris.tags = solaris.tags + ["planet"]
    s.commit()
    assert s.scalars(select(Book.tags).where(Book.title == "Solaris")).one() == ["ocean", "planet"]
insp = inspect(engine)
assert set(insp.get_table_names()) >= {"sa_authors", "sa_books"}, insp.get_table_names()
cols = {c["name"]: c for c in insp.get_columns("sa_books")}
assert list(cols) == ["id", "title", "pages", "author_id", "status", "tags"], list(cols)
assert isinstance(cols["tags"]["type"], ARRAY) and str(cols["tags"]["type"].item_type) == "VARCHAR(30)", repr(cols["tags"]["type"])
assert cols["status"]["type"].enums == ["written", "published", "archived"], cols["status"]["type"]
assert [(e["name"], e["labels"]) for e in insp.get_enums()] == [("sa_status", ["written", "published", "archived"])], insp.get_enums()
assert cols["pages"]["nullable"] and not cols["title"]["nullable"]
assert str(cols["title"]["type"]) == "VARCHAR(100)", cols["title"]["type"]
assert insp.get_pk_constraint("sa_books")["constrained_columns"] == ["id"]
fks = insp.get_foreign_keys("sa_books")
assert [(f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in fks] == [(["author_id"], "sa_authors", ["id"])], fks
idx = insp.get_indexes("sa_books")
assert [(i["column_names"], i["unique"]) for i in idx] == [(["title"], False)], idx
uq = insp.get_unique_constraints("sa_authors")
assert [u["column_names"] for u in uq] == [["name"]], uq
Base.metadata.drop_all(engine)
assert inspect(engine).get_table_names() == [] or "sa_books" not in inspect(engine).get_table_names()
assert inspect(engine).get_enums() == [], inspect(engine).get_enums()
print("sqlalchemy: ok")
