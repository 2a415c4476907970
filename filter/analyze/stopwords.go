package analyze

import (
	"strings"

	"babelfeed/filter/text"
)

// Stopwords are the function words of a language: articles, prepositions,
// conjunctions, pronouns and the forms of "be" and "have". They are so
// frequent that indexing them costs much and finds nothing; a query word
// that is a stopword is matched as a whole word instead (see Query).
//
// The lists are short on purpose: a word left out only costs index space,
// while a content word put in could never be found through the index.
// Words are folded (text.Fold) when the tables are built, so "è", "più"
// and "für" are listed as written.
var stopwordLists = map[string]string{
	"en": `a an the and or but if then so of to in on at by for with from as
		into onto about over under than that this these those there here
		is are was were be been being am has have had do does did it its
		he she they we you i me him her them my your his their our
		which who whom what when where why how not no nor all any each
		will would shall should can could might must also just very`,
	"it": `il lo la i gli le un uno una di a da in con su per tra fra e ed
		o od ma se che chi cui non ne ci vi si mi ti li del dello della dei
		degli delle al allo alla ai agli alle dal dallo dalla dai dagli dalle
		nel nello nella nei negli nelle sul sullo sulla sui sugli sulle col
		coi è sono era erano essere ha hanno ho
		hai abbiamo avere aveva come anche più questo questa questi queste
		quello quella quelli quelle suo sua suoi sue loro lui lei noi voi io
		tu egli esso essa essi esse già dove quando perché poi molto tutto
		tutti tutta tutte sia stesso ogni altro altri altra`,
	"de": `der die das den dem des ein eine einer eines einem einen und
		oder aber doch wenn dass daß als wie so zu zum zur im in an am auf
		aus bei mit nach von vom vor für über unter um durch gegen ohne bis
		ist sind war waren sein bin bist seid wird werden wurde wurden hat
		haben hatte hatten es er sie wir ihr ich du man sich nicht kein
		keine auch noch nur schon sehr dies diese dieser dieses jener
		welche welcher sein seine ihre ihren seinen mehr`,
	"fr": `le la les l un une des du de d et ou mais donc ni car que qu
		qui quoi dont où à au aux en dans par pour sur sous avec sans entre
		vers chez est sont était étaient être a ont avait avoir ai as
		avons avez il elle ils elles on nous vous je tu me te se lui leur
		leurs son sa ses ce cet cette ces mon ma mes ton ta tes notre nos
		votre vos ne pas plus comme aussi très tout tous toute toutes y`,
	"es": `el la los las lo un una unos unas de del al a en con por para
		sin sobre entre hasta desde hacia y e o u pero sino que quien
		quienes cual cuales cuando donde como es son era eran ser sido está
		están estaba estar ha han había haber he se le les me te nos os su
		sus mi mis tu tus nuestro nuestra él ella ellos ellas yo tú usted
		no sí ya muy más este esta estos estas ese esa esos esas también`,
	"pt": `o a os as um uma uns umas de do da dos das em no na nos nas ao
		aos à às por pelo pela pelos pelas para com sem sobre entre até e
		ou mas que quem qual quais quando onde como é são era eram ser sido
		está estão estava estar foi foram tem têm tinha ter há se lhe lhes
		me te nos seu sua seus suas meu minha ele ela eles elas eu tu você
		não sim já muito mais este esta estes estas esse essa isso isto também`,
	"nl": `de het een en of maar dat die dit deze wat wie waar wanneer hoe
		van in op aan met voor door bij uit naar over onder tot om te
		zijn is was waren ben bent wordt worden werd werden heeft hebben
		had hadden hij zij ze wij we jij je ik u hem haar hen ons zich
		niet geen ook nog al wel zo er dan als zeer meer`,
	"sv": `en ett den det de och eller men att som av i på till från med
		för om under över utan mot vid hos är var vara varit blir blev
		har hade ha han hon vi ni jag du man sig sin sitt sina hans hennes
		deras inte ej också så då när där här vad vem vilken vilket mycket`,
	"da": `en et den det de og eller men at som af i på til fra med for om
		under over uden mod ved hos er var være været bliver blev har havde
		have han hun vi i jeg du man sig sin sit sine hans hendes deres
		ikke også så da når hvor her hvad hvem meget`,
	"no": `en et ei den det de og eller men at som av i på til fra med for
		om under over uten mot ved hos er var være vært blir ble har hadde
		ha han hun vi dere jeg du man seg sin sitt sine hans hennes deres
		ikke også så da når hvor her hva hvem mye`,
	"ru": `и в во не что он на я с со как а то все она так его но да ты к
		у же вы за бы по только ее мне было вот от меня еще нет о из ему
		теперь когда даже ну вдруг ли если уже или ни быть был него до
		вас нибудь опять уж вам ведь там потом себя ничего ей может они
		тут где есть надо ней для мы тебя их чем была сам чтоб без будто
		чего раз тоже себе под будет ж тогда кто этот того потому этого
		какой совсем ним здесь этом почти мой тем чтобы нее были куда
		зачем всех никогда можно при наконец об другой хоть после над
		больше тот через эти нас про всего них какая много разве эту
		моя впрочем свою этой перед иногда чуть том нельзя
		такой им более всегда конечно всю между это как`,
	"tr": `ve ile bir bu o da de ki mi mı mu mü ne için gibi kadar daha
		en çok az ama fakat ancak veya ya ise ile olan olarak oldu olduğu
		olmak var yok ben sen biz siz onlar bana sana ona bize size onu
		bunu her hem değil sonra önce göre diye`,
	"fi": `ja tai mutta että kun jos niin kuin on ovat oli olivat olla ei
		en et emme ette eivät se ne hän he me te minä sinä tämä tuo nämä
		nuo joka jotka mikä mitkä kuka myös vain jo vielä hyvin`,
	"pl": `i w we z ze na do od o u za po przez dla przy bez nad pod przed
		a ale lub albo czy że to ten ta te tego tej tym jest są był była
		było byli być ma mają miał nie tak jak już się go jej ich on ona
		ono oni one my wy ja ty także też`,
	"ro": `și sau dar că care ce cine cum când unde de la în pe cu din
		pentru prin despre fără până un o unui unei niște este sunt era
		fost fi a au avea el ea ei ele noi voi eu tu se nu mai foarte și`,
	"hu": `a az egy és vagy de hogy mint is nem van volt lesz lett ez az
		ezt azt ami aki amely mely ha meg már még csak így úgy itt ott
		én te ő mi ti ők`,
	"ca": `el la els les l un una uns unes de del dels a al als en amb per
		sense sobre entre fins i o però que qui quan on com és són era
		ser estat ha han havia se li els em et ens us seu seva seus seves
		no sí ja molt més aquest aquesta`,
}

// stopwords maps a language to its folded stopword set; built once.
var stopwords = func() map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(stopwordLists)+2)
	for lang, list := range stopwordLists {
		set := map[string]bool{}
		for _, w := range strings.Fields(list) {
			set[text.Fold(w)] = true
		}
		out[lang] = set
	}
	// Norwegian Bokmål and Nynorsk share the list.
	out["nb"], out["nn"] = out["no"], out["no"]
	return out
}()

// Stopword reports whether the folded word w is a stopword of lang.
func Stopword(lang, w string) bool { return stopwords[lang][w] }
