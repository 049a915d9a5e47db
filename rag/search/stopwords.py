"""Stopword lists for the languages the analyzer stems (data only).

Kept short on purpose: only function words that carry no topic. Question words
("how", "nasıl") are here too, since every query has them and no passage is
about them.
"""

from __future__ import annotations

__all__ = ["QUESTION_WORDS", "STOPWORDS"]

_EN = """
a about above after again against all am an and any are aren as at be because been before
being below between both but by can cannot could couldn did didn do does doesn doing don down
during each few for from further had hadn has hasn have haven having he her here hers herself
him himself his how i if in into is isn it its itself just me more most my myself no nor not
now of off on once only or other ought our ours ourselves out over own same shan she should
shouldn so some such than that the their theirs them themselves then there these they this
those through to too under until up very was wasn we were weren what when where which while
who whom why will with won would wouldn you your yours yourself yourselves s t d ll m o re ve y
also etc e g i.e eg ie let lets us via get got gets one's should i'm im it's its
"""

_TR = """
acaba ama ancak artık aslında az bana bazen bazı belki ben beni benim bile bir birkaç biri
birçok birşey biz bize bizi bizim bu buna bunda bundan bunlar bunları bunların bunu bunun burada
şu şuna şunda şundan şunlar şunu şunun çok çünkü da daha de defa değil diye eğer en gibi göre hem
hep hepsi her herhangi hiç için ile ise işte kadar kendi kendine kez ki kim kimi kime mi mı mu mü
nasıl ne neden nedir nerde nerede nereye niçin niye o olan olarak oldu olduğu olduğunu olmak
olur ona onda ondan onlar onları onların onu onun sanki sen sana seni senin siz size sizi sizin
şey şekilde tüm üzere ve veya ya yani yine zaten hangi hangisi nelerdir midir mıdır mudur müdür
var yok gerekir gerekiyor nedeni neler
"""

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN.split()),
    "tr": frozenset(_TR.split()),
}


# Words that frame a question rather than name its topic ("I think I've found...",
# "...bir türlü kullanmıyor. Neyi kontrol etmeliyim?"). Dropped from queries only:
# in a document they can be content, in a question they only add noise.
_EN_QUESTION = """
think wonder wondering want wanted like know tell please help just sensible way better
thing things something anything someone anyone question ask idea exactly actually really
basically possible able try trying ever even still supposed sure
"""

_TR_QUESTION = """
istiyorum isterim istedim lazım acaba lütfen söyle söyler misin bana neyi bir türlü
etmeliyim etmem yapmalıyım yapmam olmalı olmalıyım olur mu mı hiç tam olarak
"""

QUESTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN_QUESTION.split()),
    "tr": frozenset(_TR_QUESTION.split()),
}
