"""Weekly digests for deputies and municipal staff: what goes in (content), how it reads
(text), its picture (chart), how it reaches each official once (delivery), and when
(schedule)."""
