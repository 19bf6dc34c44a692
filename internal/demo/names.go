package demo

// The vocabulary the world is made of. Everything here is invented; any
// resemblance to real accounts or songs is accidental.

// choice is one of several possibilities with its relative weight.
type choice struct {
	name   string
	weight float64
}

// niche is a kind of content with what its videos are called and tagged.
type niche struct {
	name     string
	titles   []string
	captions []string
	tags     []string
}

var niches = []niche{
	{"baking",
		[]string{"Sourdough at 6 a.m.", "The flakiest croissants, step by step", "3-ingredient cookies that actually work", "Cinnamon rolls for a crowd", "Why your bread is dense", "Lemon tart without a mixer", "Laminating dough in a tiny kitchen", "Our bestselling cardamom bun", "Behind the counter on a Saturday", "Focaccia art for beginners"},
		[]string{"Full recipe in the comments.", "Bake along with me this weekend.", "Fresh out of the oven.", "Tag someone who owes you a pastry.", "The secret is cold butter."},
		[]string{"baking", "sourdough", "recipe", "foodtok", "dessert", "bakery", "pastry"}},
	{"skate",
		[]string{"Learning a kickflip, day 30", "Night session at the harbour", "Cheap board vs expensive board", "Falling so you don't have to", "Skating every bridge in town", "Found a new DIY spot", "Old trucks, new tricks"},
		[]string{"Still can't land it.", "Spot in the comments if you know it.", "Took 40 tries.", "Sunday crew."},
		[]string{"skate", "skateboarding", "kickflip", "streetskate", "diy"}},
	{"travel",
		[]string{"48 hours in Lisbon on a budget", "The quietest beach in Crete", "Night train to Vienna", "What $20 gets you in Hanoi", "Hidden stairs of Valparaíso", "Packing light for two weeks", "Sunrise over the Dolomites"},
		[]string{"Saving this for next summer?", "Full itinerary below.", "Worth the 5 a.m. alarm.", "Would you go?"},
		[]string{"travel", "wanderlust", "budgettravel", "europe", "backpacking", "hiddengems"}},
	{"fitness",
		[]string{"10-minute morning mobility", "Pull-up progression for beginners", "What I eat after leg day", "Home workout, no equipment", "Fixing your squat depth", "Running my first 10k"},
		[]string{"Save it for tomorrow morning.", "Form check in the comments.", "Consistency over intensity.", "Day 12 of 30."},
		[]string{"fitness", "workout", "homeworkout", "gym", "mobility", "running"}},
	{"comedy",
		[]string{"When the group chat goes quiet", "My landlord explaining the heating", "Types of people at the gym", "Me pretending to understand wine", "POV: your mom found your playlist", "Meetings that could have been an email"},
		[]string{"Based on a true story.", "Part 2?", "Tag the friend who does this.", "I'm not okay."},
		[]string{"comedy", "funny", "relatable", "skit", "pov"}},
	{"dance",
		[]string{"Learn this in 60 seconds", "Dance battle with my grandma", "Choreo to the new single", "Mirror tutorial, slow version", "Rehearsal vs the real thing"},
		[]string{"Tutorial on my profile.", "Duet this!", "Took us all day.", "Which one was cleaner?"},
		[]string{"dance", "choreography", "dancetutorial", "trend", "duet"}},
	{"tech",
		[]string{"I built a keyboard from scratch", "This phone setting saves your battery", "Rating every laptop I owned", "Coding a game in one hour", "Desk setup tour 2026", "Why your Wi-Fi is slow"},
		[]string{"Links in bio.", "Which one should I review next?", "Not sponsored.", "Source code in the comments."},
		[]string{"tech", "coding", "setup", "gadgets", "techtips", "programming"}},
	{"pets",
		[]string{"My cat judging my cooking", "Teaching a puppy to wait", "Rescue day one vs one year", "He heard the treat bag", "Corgi at the beach for the first time"},
		[]string{"He's fine, just dramatic.", "Adopt, don't shop.", "Her face at the end.", "Dog tax."},
		[]string{"pets", "dogsoftiktok", "catsofcrowd", "rescue", "puppy"}},
	{"fashion",
		[]string{"One jacket, five outfits", "Thrift haul under $30", "Styling my grandpa's coat", "Capsule wardrobe for autumn", "Colour analysis, honest results"},
		[]string{"Everything thrifted.", "Which look is your favourite?", "Details below.", "Sustainable and cheap."},
		[]string{"fashion", "ootd", "thrift", "style", "capsulewardrobe"}},
	{"diy",
		[]string{"Turning a pallet into a bench", "Renter-friendly kitchen upgrade", "Fixing a wobbly chair properly", "Tiny balcony garden build", "Restoring a 1970s lamp"},
		[]string{"Cost me $15.", "Plans in the comments.", "Measure twice.", "Before and after."},
		[]string{"diy", "homemade", "woodworking", "renovation", "upcycle"}},
	{"music",
		[]string{"Writing a song in 10 minutes", "Cover on a broken piano", "Guitar riff you'll hum all day", "Making a beat from kitchen sounds", "Harmonising with strangers"},
		[]string{"Full version soon.", "Should I release this?", "Headphones on.", "Day 5 of a song a day."},
		[]string{"music", "cover", "guitar", "producer", "singing", "newmusic"}},
	{"books",
		[]string{"Books that made me cry on the train", "Rating every book I read in March", "Tiny bookshop tour", "Reading slump cures", "Annotating my favourite novel"},
		[]string{"What should I read next?", "No spoilers in the comments!", "My whole shelf in one video.", "Cosy season."},
		[]string{"books", "booktok", "reading", "bookrecommendations", "bookshelf"}},
}

// creatorSeeds are the first creators: handle, display name and niche.
// mia and leo come first; their places are fixed.
var creatorSeeds = []struct{ handle, name, niche string }{
	{"mia", "Mia · Corner Bakery", "baking"},
	{"leo", "Leo Marchetti", "skate"},
	{"nora.bakes", "Nora Lind", "baking"},
	{"sam_lifts", "Sam Okafor", "fitness"},
	{"kenji.codes", "Kenji Watanabe", "tech"},
	{"lucia.viaja", "Lucía Romero", "travel"},
	{"dogs_of_dover", "Dogs of Dover", "pets"},
	{"thriftwithtess", "Tess Martin", "fashion"},
	{"omar.laughs", "Omar Haddad", "comedy"},
	{"juno.dances", "Juno Park", "dance"},
	{"pablo.builds", "Pablo Ortega", "diy"},
	{"aisha.reads", "Aisha Bello", "books"},
	{"finn.plays", "Finn Larsen", "music"},
	{"greta.runs", "Greta Vogel", "fitness"},
	{"the.tiny.kitchen", "The Tiny Kitchen", "baking"},
	{"marco.on.wheels", "Marco Rossi", "skate"},
	{"wanderwithwei", "Wei Chen", "travel"},
	{"catmom.clara", "Clara Dubois", "pets"},
	{"ravi.explains", "Ravi Sharma", "tech"},
	{"bella.style", "Bella Costa", "fashion"},
	{"dad.jokes.dan", "Dan Murphy", "comedy"},
	{"kiki.moves", "Kiki Mensah", "dance"},
	{"woodshop.willa", "Willa Grant", "diy"},
	{"pageturner.pete", "Peter Novak", "books"},
	{"lena.sings", "Lena Fischer", "music"},
	{"coach.amara", "Amara Nwosu", "fitness"},
	{"crumb.theory", "Crumb Theory Bakery", "baking"},
	{"rollin.ray", "Ray Alvarez", "skate"},
	{"nomad.nina", "Nina Petrova", "travel"},
	{"goodboy.gus", "Gus the Corgi", "pets"},
	{"gadget.gabe", "Gabe Kowalski", "tech"},
	{"vintage.vera", "Vera Sokolova", "fashion"},
	{"awkward.ali", "Ali Demir", "comedy"},
	{"salsa.sofia", "Sofía Herrera", "dance"},
	{"fixit.felix", "Felix Braun", "diy"},
	{"shelfie.sara", "Sara Lindqvist", "books"},
	{"beats.by.bo", "Bo Jensen", "music"},
	{"yoga.yuki", "Yuki Tanaka", "fitness"},
	{"flour.power", "Flour Power Co.", "baking"},
	{"ollie.oscar", "Oscar Silva", "skate"},
	{"backpack.ben", "Ben Walker", "travel"},
	{"parrot.pia", "Pia Schulz", "pets"},
	{"linux.lara", "Lara Jovanović", "tech"},
	{"denim.dev", "Devika Rao", "fashion"},
	{"sketchy.sid", "Sid Kapoor", "comedy"},
	{"tap.tara", "Tara Quinn", "dance"},
	{"garden.gio", "Giovanni Bianchi", "diy"},
	{"read.with.rosa", "Rosa Medina", "books"},
	{"cello.chloe", "Chloé Laurent", "music"},
	{"hike.hana", "Hana Yilmaz", "travel"},
	{"bread.by.ben", "Benedikt Kraus", "baking"},
	{"zoe.zooms", "Zoe Adeyemi", "fitness"},
	{"mochi.the.cat", "Mochi the Cat", "pets"},
	{"pixel.paulo", "Paulo Santos", "tech"},
	{"style.by.sun", "Sun-hee Lee", "fashion"},
	{"mimi.mimes", "Mimi Roux", "comedy"},
	{"krump.kofi", "Kofi Asante", "dance"},
	{"tiny.house.tom", "Tom Evans", "diy"},
	{"library.lou", "Louise Hart", "books"},
	{"synth.sami", "Sami Virtanen", "music"},
}

var firstNames = []string{
	"emma", "liam", "olivia", "noah", "ava", "lucas", "sofia", "mateo", "amelia", "leon",
	"isabella", "hugo", "chloe", "arthur", "mila", "jonas", "lea", "ethan", "zoe", "felix",
	"maria", "joao", "ana", "pedro", "julia", "gabriel", "lara", "rafael", "beatriz", "thiago",
	"aarav", "diya", "arjun", "priya", "rohan", "ananya", "vivaan", "isha", "kabir", "meera",
	"yuna", "haruto", "sakura", "ren", "minji", "jisoo", "hyun", "sora", "aiko", "daichi",
	"fatima", "yusuf", "aylin", "emir", "elif", "omar", "layla", "karim", "nadia", "samir",
	"chidi", "ada", "tunde", "ngozi", "kwame", "amina", "femi", "zara", "kofi", "imani",
	"jack", "grace", "oliver", "ruby", "harry", "freya", "charlie", "isla", "george", "poppy",
	"mateus", "valentina", "diego", "camila", "santiago", "lucia", "andres", "paula", "nico", "elena",
	"putri", "budi", "sari", "rizky", "dewi", "juan", "angel", "miguel", "carmen", "jose",
}

var lastInitials = "abcdefghijklmnoprstvwyz"

var handleWords = []string{"", "", "", ".x", "_", ".", "_official", ".daily", "_irl", ".films", ".art", "_xo"}

// countries and their weights: roughly the skew of a global short-video
// audience, led by the US and a few large markets.
var countries = []choice{
	{"US", 20}, {"BR", 10}, {"IN", 8}, {"GB", 7}, {"DE", 6}, {"FR", 5}, {"MX", 5}, {"ID", 5},
	{"ES", 4}, {"IT", 4}, {"CA", 4}, {"PH", 3}, {"JP", 3}, {"TR", 3}, {"KR", 2}, {"NG", 2},
	{"PL", 2}, {"NL", 2}, {"AU", 2}, {"AR", 2}, {"SE", 1},
}

// ageBand is a range of ages, inclusive, with its relative weight.
type ageBand struct {
	from, to int
	weight   float64
}

// ageBands are the viewers' ages (from, to inclusive) and their weights:
// young adults dominate, but every bucket from 13–17 to 55+ has people.
var ageBands = []ageBand{
	{13, 17, 12}, {18, 24, 32}, {25, 34, 28}, {35, 44, 14}, {45, 54, 8}, {55, 70, 6},
}

var genders = []choice{
	{"female", 49}, {"male", 43}, {"other", 3}, {"undisclosed", 5},
}

// sources of views that did not come from a share cascade.
var sources = []choice{
	{"for_you", 58}, {"following", 12}, {"profile", 7}, {"search", 6}, {"hashtag", 5}, {"sound", 4}, {"shared", 4}, {"other", 4},
}

var channels = []choice{
	{"dm", 30}, {"whatsapp", 20}, {"copy_link", 15}, {"instagram", 10}, {"facebook", 5}, {"messenger", 5},
	{"telegram", 4}, {"x", 4}, {"sms", 3}, {"email", 2}, {"other", 2},
}

var sounds = []string{
	"Golden Hour (sped up) - Marlow", "Paper Planes Again - The Lanterns", "late night drive - nuvo", "Cherry Soda - Kaiya",
	"Slow Motion Summer - Ostra", "Bassline Therapy - DJ Koru", "Only Forward - Harbor Kids", "lofi rain - sleepy fox",
	"Tiny Victories - Ella Moon", "Move Like That - BRAVO", "Sunday Market - Tomo & Lie", "Weightless - Aster",
}

var comments = []string{
	"this is so good 😍", "recipe please!", "how did you do that??", "saving this for later", "the ending 😂",
	"I needed this today", "ok but the sound choice", "came back to watch this again", "tutorial please 🙏",
	"underrated", "my whole family watched this", "where is this?", "10/10 no notes", "first!",
	"this deserves more views", "trying this tomorrow", "the way I screamed", "love your content ❤️",
	"can you do a part 2?", "sending this to my sister",
}

var dmTexts = []string{
	"you have to see this", "this is literally you 😂", "we should go here", "made me think of you",
	"ok we're making this this weekend", "watch till the end", "", "saw this and laughed",
}

// friends are the viewers who log in to Crowd itself during the fill: their
// follows, likes, comments and messages are what the creators' activity
// feed and inbox show, with names.
var friendNames = []struct{ handle, name string }{
	{"anna.k", "Anna Kowalczyk"}, {"ben.t", "Ben Taylor"}, {"carla.m", "Carla Mendes"}, {"david.o", "David Obi"},
	{"elin.s", "Elin Svensson"}, {"farah.a", "Farah Aziz"}, {"gustavo.r", "Gustavo Ramos"}, {"hiro.n", "Hiro Nakamura"},
	{"ines.b", "Inês Barros"}, {"jamal.w", "Jamal Wright"},
}
